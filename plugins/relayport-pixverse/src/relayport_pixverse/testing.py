"""A fake PixVerse platform API for tests: `API-KEY` and a UUID `Ai-trace-id` on every call (a
repeated trace id gets the first answer back, as PixVerse documents), the `{ErrCode, ErrMsg, Resp}`
envelope, multipart image upload -> `img_id`, text and image generate calls with the fields and
values its docs list, integer statuses 5 -> 1 (or 7, 8), result URLs that expire, and the
concurrent-generation limit. Which ErrCode numbers PixVerse uses, whether its errors come under
HTTP 200 or an error status, and whether a refused call's trace id is also replayed, are not in the
public pages read: here parameter and limit errors come under HTTP 200, a bad key under 401, and
only accepted calls are replayed."""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
import uuid
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook

__all__ = ["KEY", "MP4", "PNG", "FakePixVerse"]

KEY = "sk-pixverse-test-0123456789"
MODELS = frozenset({"v3.5", "v4", "v4.5", "v5", "v5.5", "v5.6", "v6"})
QUALITIES = frozenset({"360p", "540p", "720p", "1080p"})
RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16"})


def envelope(resp: Any = None, code: int = 0, message: str = "success", status: int = 200) -> web.Response:
    return web.json_response({"ErrCode": code, "ErrMsg": message, "Resp": resp if resp is not None else {}},
                             status=status)


def form_files(rec: RecordedRequest) -> dict[str, tuple[bytes, str]]:
    head = f"Content-Type: {rec.headers.get('content-type', '')}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + rec.body)
    out: dict[str, tuple[bytes, str]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            out[name] = (part.get_payload(decode=True) or b"", part.get_content_type())
    return out


class FakePixVerse(FakeUpstream):
    def __init__(self, lifetime: float = 86400.0) -> None:
        super().__init__(default=self._answer)
        self.book = TaskBook(("5", "5", "1"))  # PixVerse's statuses are ints: 5 generating, 1 done
        self.files = ExpiringFiles(lifetime)
        self.images: dict[int, bytes] = {}
        self.traces: dict[str, bytes] = {}  # trace id -> the body first answered
        self.busy_next = 0  # generate calls refused: concurrent-generation limit

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if rec.headers.get("api-key") != KEY:
            return envelope(code=10005, message="Invalid API-KEY", status=401)
        trace = rec.headers.get("ai-trace-id", "")
        try:
            uuid.UUID(trace)
        except ValueError:
            return envelope(code=400017, message="Invalid parameter: Ai-trace-id must be a UUID")
        if rec.method == "POST" and trace in self.traces:
            # The same trace id: the first answer again, no new generation.
            return web.Response(body=self.traces[trace], content_type="application/json")
        if rec.method == "POST" and rec.path == "/openapi/v2/image/upload":
            answer = self._upload(rec)
        elif rec.method == "POST" and rec.path in ("/openapi/v2/video/text/generate", "/openapi/v2/video/img/generate"):
            answer = self._generate(rec.path, rec.json())
        elif rec.method == "GET" and rec.path.startswith("/openapi/v2/video/result/"):
            return self._result(rec.path.rsplit("/", 1)[1])
        else:
            return envelope(code=404, message="Not Found", status=404)
        body = answer.body
        if answer.status == 200 and isinstance(body, bytes) and json.loads(body)["ErrCode"] == 0:
            self.traces[trace] = body  # assumed: only an accepted call is replayed for its trace id
        return answer

    def _upload(self, rec: RecordedRequest) -> web.Response:
        files = form_files(rec)
        if "image" not in files:
            return envelope(code=400017, message="Invalid parameter: image is required")
        data, ctype = files["image"]
        if ctype not in ("image/png", "image/jpeg", "image/webp"):
            return envelope(code=400032, message="Unsupported image format")
        img_id = 30_000_000 + len(self.images) + 1
        self.images[img_id] = data
        return envelope({"img_id": img_id, "img_url": f"{self.url}/uploads/{img_id}"})

    def _generate(self, path: str, body: dict[str, Any]) -> web.Response:
        if self.busy_next > 0:
            self.busy_next -= 1
            return envelope(code=500044, message="Reached the limit for concurrent generations.")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not 0 < len(prompt) <= 2048 or body.get("model") not in MODELS:
            return envelope(code=400017, message="Invalid parameter: prompt/model")
        if body.get("duration") not in (5, 8) or body.get("quality") not in QUALITIES:
            return envelope(code=400017, message="Invalid parameter: duration must be 5 or 8, quality one of "
                                                 "360p/540p/720p/1080p")
        if body["quality"] == "1080p" and body["duration"] == 8:
            return envelope(code=400017, message="Invalid parameter: 1080p does not support 8 seconds")
        if path.endswith("/text/generate") and body.get("aspect_ratio") not in RATIOS:
            return envelope(code=400017, message="Invalid parameter: aspect_ratio")
        if path.endswith("/img/generate") and body.get("img_id") not in self.images:
            return envelope(code=400017, message="Invalid parameter: img_id not found")
        video_id = 360_000_000_000 + len(self.book.tasks) + 1
        self.book.add(str(video_id), body=body)
        return envelope({"video_id": video_id})

    def _result(self, video_id: str) -> web.Response:
        if self.book.rate_limited():
            return envelope(code=500069, message="Too many requests, please try again later.", status=429)
        task = self.book.advance(video_id)
        if task is None:
            return envelope(code=400018, message="Video not found")
        status = int(self.book.status(task))
        body = task["body"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        resp: dict[str, Any] = {"id": int(video_id), "status": status, "prompt": body["prompt"],
                                "negative_prompt": body.get("negative_prompt", ""), "seed": body.get("seed", 7),
                                "style": body.get("style", ""), "resolution_ratio": 0, "size": 0, "url": "",
                                "outputWidth": 0, "outputHeight": 0, "create_time": now, "modify_time": now}
        if status == 1:
            resp.update(url=self.files.publish(self.url, f"{video_id}.mp4", MP4, "video/mp4"), size=len(MP4),
                        outputWidth=1280, outputHeight=720)
        return envelope(resp)
