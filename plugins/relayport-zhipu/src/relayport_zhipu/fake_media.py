"""A fake of Zhipu's media APIs under `/api/paas/v4`: CogVideoX tasks, CogView / GLM-Image
images (sync and async) and embeddings, with Zhipu's status words, error envelope
`{"error": {"code": "<business code>", "message"}}`, rate limits (1302) and result URLs that expire."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.openai_media import vector
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook

KEY = "zhipu-media-key.secret"
PREFIX = "/api/paas/v4"
EMBED_DIMS = (256, 512, 1024, 2048)


def glm_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class FakeZhipuMedia(FakeUpstream):
    def __init__(self, api_key: str = KEY) -> None:
        super().__init__(default=self._answer)
        self.api_key = api_key
        self.book = TaskBook(("PROCESSING", "PROCESSING", "SUCCESS"))
        self.files = ExpiringFiles()

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def _request_id(self) -> str:
        return time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:12]

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return glm_error(401, "1000", "身份验证失败。")
        path = rec.path.removeprefix(PREFIX)
        if rec.method == "POST" and path == "/videos/generations":
            return self._video(rec.json())
        if rec.method == "POST" and path in ("/images/generations", "/async/images/generations"):
            return self._image(rec.json(), path.startswith("/async"))
        if rec.method == "GET" and path.startswith("/async-result/"):
            return self._result(path.rsplit("/", 1)[1])
        if rec.method == "POST" and path == "/embeddings":
            return self._embeddings(rec.json())
        return glm_error(404, "1211", "模型不存在，请检查模型代码。")

    def _video(self, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model") or "")
        if not model.startswith("cogvideox"):
            return glm_error(400, "1211", "模型不存在，请检查模型代码。")
        prompt, image = body.get("prompt"), body.get("image_url")
        if not prompt and not image:
            return glm_error(400, "1214", "prompt 与 image_url 不能同时为空")
        if isinstance(prompt, str) and len(prompt) > 512:
            return glm_error(400, "1261", "prompt 超过最大长度 512")
        if body.get("fps", 30) not in (30, 60):
            return glm_error(400, "1214", "fps 参数不合法，仅支持 30 或 60")
        if isinstance(image, list) and not 1 <= len(image) <= 2:
            return glm_error(400, "1214", "image_url 最多两张（首帧、尾帧）")
        task = self.book.add(f"{int(time.time())}-{len(self.book.tasks) + 1}", kind="video", model=model, body=body)
        return web.json_response({"model": model, "id": task["id"], "request_id": self._request_id(),
                                  "task_status": "PROCESSING"})

    def _image(self, body: dict[str, Any], asynchronous: bool) -> web.Response:
        model = str(body.get("model") or "")
        if not model.startswith(("cogview", "glm-image")):
            return glm_error(400, "1211", "模型不存在，请检查模型代码。")
        if not body.get("prompt"):
            return glm_error(400, "1214", "prompt 不能为空")
        size = str(body.get("size") or "1280x1280")
        w, _, h = size.partition("x")
        step, low = (32, 1024) if model.startswith("glm-image") else (16, 512)
        if not (w.isdigit() and h.isdigit()) or any(not low <= int(v) <= 2048 or int(v) % step for v in (w, h)):
            return glm_error(400, "1214", f"size 参数不合法：长宽需在 {low}-2048 之间且为 {step} 的整数倍")
        if asynchronous:
            if not model.startswith("glm-image"):
                return glm_error(400, "1214", "该模型不支持异步调用")
            task = self.book.add(f"img-{len(self.book.tasks) + 1}", kind="image", model=model, body=body)
            return web.json_response({"model": model, "id": task["id"], "request_id": self._request_id(),
                                      "task_status": "PROCESSING"})
        url = self.files.publish(self.url, f"img-{len(self.requests)}.png", PNG, "image/png")
        return web.json_response({"created": int(time.time()), "data": [{"url": url}],
                                  "content_filter": [{"role": "assistant", "level": 3}]})

    def _result(self, task_id: str) -> web.Response:
        if self.book.rate_limited():
            return glm_error(429, "1302", "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。")
        task = self.book.advance(task_id)
        if task is None:
            return glm_error(404, "1214", "任务不存在")
        status = self.book.status(task)
        answer: dict[str, Any] = {"model": task["model"], "id": task_id, "request_id": self._request_id(),
                                  "task_status": status}
        if status == "SUCCESS":
            if task["kind"] == "video":
                url = self.files.publish(self.url, f"{task_id}.mp4", MP4, "video/mp4")
                answer["video_result"] = [{"url": url, "cover_image_url": url.replace(".mp4", ".jpg")}]
            else:
                answer["image_result"] = [{"url": self.files.publish(self.url, f"{task_id}.png", PNG, "image/png")}]
        return web.json_response(answer)

    def _embeddings(self, body: dict[str, Any]) -> web.Response:
        model = body.get("model")
        if model not in ("embedding-2", "embedding-3"):
            return glm_error(400, "1211", "模型不存在，请检查模型代码。")
        value = body.get("input")
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return glm_error(400, "1214", "input 参数不合法")
        if len(texts) > 64:
            return glm_error(400, "1214", "input 数组最多 64 条")
        dims = body.get("dimensions", 2048)
        if model == "embedding-3" and dims not in EMBED_DIMS:
            return glm_error(400, "1214", "dimensions 仅支持 256、512、1024、2048")
        tokens = sum(len(t) for t in texts)
        return web.json_response({
            "model": model, "object": "list",
            "data": [{"index": i, "object": "embedding", "embedding": vector(t, dims)} for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}})
