"""A fake of Ark's media APIs under `/api/v3`: Seedance tasks (queued -> running -> succeeded,
cancel while queued), Seedream images and text embeddings, with Ark's error envelope, its
429 and result URLs that expire. What it refuses follows the Ark reference: a request mixing
first/last frames with reference images, a last frame without a first, unknown roles,
resolutions and ratios, Seedream sizes outside its pixel range. The answer to cancelling a task
that already runs is not documented: here a 400 `InvalidParameter`."""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.openai_media import vector
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook
from relayport_doubao.testing import ark_error

KEY = "ark-media-key"
PREFIX = "/api/v3"
_ROLES = {"first_frame", "last_frame", "reference_image"}
_RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}


def error(status: int, code: str, message: str, param: str | None = None) -> web.Response:
    return web.json_response(ark_error(status, code, message, param), status=status)


class FakeArkMedia(FakeUpstream):
    def __init__(self, api_key: str = KEY) -> None:
        super().__init__(default=self._answer)
        self.api_key = api_key
        self.book = TaskBook(("queued", "running", "succeeded"))
        self.files = ExpiringFiles(lifetime=86400)  # `X-Tos-Expires=86400`

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return error(401, "AuthenticationError", "The API key in the request is missing or invalid.")
        path = rec.path.removeprefix(PREFIX)
        tasks = "/contents/generations/tasks"
        if path == tasks and rec.method == "POST":
            return self._submit(rec.json())
        if path.startswith(tasks + "/") and rec.method == "GET":
            return self._get(path.rsplit("/", 1)[1])
        if path.startswith(tasks + "/") and rec.method == "DELETE":
            return self._delete(path.rsplit("/", 1)[1])
        if path == "/images/generations" and rec.method == "POST":
            return self._image(rec.json())
        if path == "/embeddings" and rec.method == "POST":
            return self._embeddings(rec.json())
        if path == "/embeddings/multimodal" and rec.method == "POST":
            return self._multimodal(rec.json())
        return error(404, "NotFound", "The requested resource was not found.")

    def _submit(self, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model") or "")
        if not model.startswith(("doubao-seedance", "ep-")):
            return error(404, "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does not exist.")
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return error(400, "MissingParameter", "The request is missing the parameter content.", "content")
        roles = [c.get("role") for c in content if isinstance(c, dict) and c.get("type") == "image_url"]
        if any(r not in _ROLES for r in roles):
            return error(400, "InvalidParameter", "The parameter content.role is invalid.", "content.role")
        frames, refs = {"first_frame", "last_frame"} & set(roles), "reference_image" in roles
        if frames and refs:
            return error(400, "InvalidParameter", "first/last frame and reference images cannot be used together.",
                         "content")
        if "last_frame" in roles and "first_frame" not in roles:
            return error(400, "InvalidParameter", "last_frame requires a first_frame.", "content")
        if body.get("resolution", "720p") not in ("480p", "720p", "1080p"):
            return error(400, "InvalidParameter", "The parameter resolution is invalid.", "resolution")
        if body.get("ratio", "16:9") not in _RATIOS:
            return error(400, "InvalidParameter", "The parameter ratio is invalid.", "ratio")
        duration = body.get("duration", 5)
        if not isinstance(duration, int) or not 2 <= duration <= 12:
            return error(400, "InvalidParameter", "The parameter duration must be an integer in [2, 12].", "duration")
        task = self.book.add(f"cgt-{time.strftime('%Y%m%d%H%M%S')}-{len(self.book.tasks) + 1:04d}",
                             model=model, body=body)
        return web.json_response({"id": task["id"]})

    def _task(self, task: dict[str, Any]) -> dict[str, Any]:
        body = task["body"]
        status = self.book.status(task)
        out: dict[str, Any] = {"id": task["id"], "model": task["model"], "status": status,
                               "created_at": task["created_at"], "updated_at": int(time.time()),
                               "seed": body.get("seed", 11), "resolution": body.get("resolution", "720p"),
                               "ratio": body.get("ratio", "16:9"), "duration": body.get("duration", 5),
                               "framespersecond": 24, "service_tier": "default"}
        if status == "succeeded":
            out["content"] = {"video_url": self.files.publish(self.url, f"{task['id']}.mp4", MP4, "video/mp4")}
            out["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        if status == "failed":
            out["error"] = {"code": "OutputVideoSensitiveContentDetected",
                            "message": "The request failed because the output video may contain sensitive information."}
        return out

    def _get(self, task_id: str) -> web.Response:
        if self.book.rate_limited():
            return error(429, "RateLimitExceeded.EndpointRPMExceeded", "Too many requests.")
        task = self.book.advance(task_id)
        if task is None:
            return error(404, "ResourceNotFound", f"The task {task_id} does not exist.")
        return web.json_response(self._task(task))

    def _delete(self, task_id: str) -> web.Response:
        task = self.book.tasks.get(task_id)
        if task is None:
            return error(404, "ResourceNotFound", f"The task {task_id} does not exist.")
        if self.book.status(task) != "queued":
            return error(400, "InvalidParameter", f"The task {task_id} is {self.book.status(task)}; only queued "
                                                  "tasks can be cancelled.")
        task["forced"] = "cancelled"
        return web.json_response({})

    def _image(self, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model") or "")
        if not model.startswith(("doubao-seedream", "doubao-seededit", "ep-")):
            return error(404, "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does not exist.")
        if not body.get("prompt"):
            return error(400, "MissingParameter", "The request is missing the parameter prompt.", "prompt")
        size = str(body.get("size") or "2048x2048")
        if size not in ("1K", "2K", "4K"):
            w, _, h = size.partition("x")
            if not (w.isdigit() and h.isdigit()) or not 1280 * 720 <= int(w) * int(h) <= 4096 * 4096:
                return error(400, "InvalidParameter", "The parameter size is invalid.", "size")
        count = 1
        if body.get("sequential_image_generation") == "auto":
            count = int((body.get("sequential_image_generation_options") or {}).get("max_images", 15))
            if not 1 <= count <= 15:
                return error(400, "InvalidParameter", "max_images must be in [1, 15].", "max_images")
        b64 = body.get("response_format") == "b64_json"
        data = []
        for i in range(count):
            name = f"seedream-{len(self.requests)}-{i}.jpeg"
            data.append({"b64_json": base64.b64encode(PNG).decode()} if b64 else
                        {"url": self.files.publish(self.url, name, PNG, "image/jpeg"), "size": size})
        return web.json_response({"model": model, "created": int(time.time()), "data": data,
                                  "usage": {"generated_images": count, "output_tokens": 16384 * count,
                                            "total_tokens": 16384 * count}})

    def _embeddings(self, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model") or "")
        if not model.startswith(("doubao-embedding", "ep-")) or "vision" in model:
            return error(404, "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does not exist.")
        value = body.get("input")
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return error(400, "InvalidParameter", "The parameter input is invalid.", "input")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return error(400, "InvalidParameter", "The parameter encoding_format is invalid.", "encoding_format")
        data = []
        for i, text in enumerate(texts):
            vec = vector(text, 2560)
            emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if fmt == "base64" else vec
            data.append({"embedding": emb, "index": i, "object": "embedding"})
        tokens = sum(len(t.split()) + 1 for t in texts)
        return web.json_response({"created": int(time.time()), "id": "021764-emb", "model": model, "object": "list",
                                  "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _multimodal(self, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model") or "")
        if "embedding-vision" not in model:
            return error(404, "InvalidEndpointOrModel.NotFound", f"The model or endpoint {model} does not exist.")
        items = body.get("input")
        if not isinstance(items, list) or not items or any(
                not isinstance(i, dict) or i.get("type") not in ("text", "image_url", "video_url") for i in items):
            return error(400, "InvalidParameter", "The parameter input is invalid.", "input")
        dims = body.get("dimensions", 2048)
        if dims not in (1024, 2048):
            return error(400, "InvalidParameter", "The parameter dimensions must be 1024 or 2048.", "dimensions")
        key = "|".join(str(i.get("text") or (i.get("image_url") or i.get("video_url") or {}).get("url")) for i in items)
        images = sum(1 for i in items if i["type"] != "text")
        return web.json_response({
            "created": int(time.time()), "id": "021764-mm", "model": model, "object": "list",
            "data": {"embedding": vector(key, dims), "object": "embedding"},
            "usage": {"prompt_tokens": 10 + 1000 * images, "total_tokens": 10 + 1000 * images,
                      "prompt_tokens_details": {"text_tokens": 10, "image_tokens": 1000 * images}}})
