"""DashScope's media endpoints for `FakeDashScope`: Wan video and image tasks, qwen-image, qwen-tts
and compatible-mode embeddings, with the rules and state machine DashScope has.

- Task submits need `X-DashScope-Async: enable` (else 403 "current user api does not support
  synchronous calls") and answer `{request_id, output: {task_id, task_status: "PENDING"}}`.
- A task moves one step of `steps` per `GET /api/v1/tasks/{id}` (default PENDING -> RUNNING ->
  SUCCEEDED); a FAILED step carries `output.code`/`message`; an id the fake does not know is
  `UNKNOWN`. `POST /api/v1/tasks/{id}/cancel` works only while the task is PENDING.
- Result URLs point at `{url}/files/...` and expire `expires` seconds after the task succeeded
  (403 afterwards, as a signed OSS URL does).
- `limit_next` answers that many task polls with 429 `Throttling.RateQuota`.
- wan2.7+ video takes `input.media` items; older Wan video the named fields (`img_url`, the
  image2video endpoint's `first_frame_url`/`last_frame_url`); each is refused in the other form.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from typing import Any

import orjson

from relayport.testing.fakes import Reply
from relayport.testing.openai_media import MP4, PNG

WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 8
PCM = bytes(range(256)) * 6  # what a streamed qwen-tts call's chunks add up to
TASKS = "/api/v1/tasks/"
VIDEO = "/api/v1/services/aigc/video-generation/video-synthesis"
KEYFRAME = "/api/v1/services/aigc/image2video/video-synthesis"
TEXT2IMAGE = "/api/v1/services/aigc/text2image/image-synthesis"
IMAGE2IMAGE = "/api/v1/services/aigc/image2image/image-synthesis"
MULTIMODAL = "/api/v1/services/aigc/multimodal-generation/generation"
EMBEDDINGS = "/compatible-mode/v1/embeddings"

_VERSION = re.compile(r"wanx?(\d+)\.(\d+)")
_I2V_TYPES = {"first_frame", "last_frame", "driving_audio", "first_clip"}
_R2V_TYPES = {"reference_image", "reference_video", "first_frame"}


def _rid() -> str:
    return str(uuid.uuid4())


def error(status: int, code: str, message: str) -> Reply:
    return Reply.json({"request_id": _rid(), "code": code, "message": message}, status)


def invalid(message: str) -> Reply:
    return error(400, "InvalidParameter", message)


def media_model(model: str) -> bool:
    """Models whose multimodal-generation calls are media (images, speech), not chat."""
    name = model.lower()
    return "tts" in name or "image" in name


def _new_protocol(model: str) -> bool:
    found = _VERSION.search(model.lower())
    return found is None or (int(found.group(1)), int(found.group(2))) >= (2, 7)


class DashScopeMedia:
    def __init__(self, base: str) -> None:
        self.base = base
        self.tasks: dict[str, dict[str, Any]] = {}
        self.steps: tuple[str, ...] = ("PENDING", "RUNNING", "SUCCEEDED")
        self.expires = 24 * 3600.0
        self.limit_next = 0
        self.fail_code = ("DataInspectionFailed", "Output data may contain inappropriate content.")
        self.files: dict[str, tuple[bytes, str, float]] = {}  # name -> (bytes, type, expires at)
        # Streamed qwen-tts: chunks, a pause before each, an `event:error` after some.
        self.speech_pieces = 4
        self.speech_delay = 0.0
        self.speech_fail_after: int | None = None

    def answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply | None:
        """The reply for a media call, or None for a path that is not one."""
        if path.startswith(TASKS):
            return self._task_call(method, path[len(TASKS):])
        if path in (VIDEO, KEYFRAME, TEXT2IMAGE, IMAGE2IMAGE):
            if headers.get("x-dashscope-async") != "enable":
                return error(403, "AccessDenied", "current user api does not support synchronous calls")
            problem = self._check_task(path, body)
            return invalid(problem) if problem else self._create(path, body)
        if path == MULTIMODAL and media_model(str(body.get("model", ""))):
            if "tts" in str(body["model"]).lower():
                return self._speech(body, headers.get("x-dashscope-sse") == "enable")
            return self._sync_image(body)
        if path == EMBEDDINGS:
            return self._embeddings(body)
        return None

    def expire_all(self) -> None:
        """Every result URL handed out so far expires now."""
        self.files = {name: (data, kind, 0.0) for name, (data, kind, _) in self.files.items()}

    def file(self, name: str) -> tuple[bytes, str] | None:
        """A result file's bytes and type while its URL has not expired."""
        found = self.files.get(name)
        if found is None or time.time() > found[2]:
            return None
        return found[0], found[1]

    # ------------------------------------------------------------------ tasks

    def _check_task(self, path: str, body: dict[str, Any]) -> str | None:
        model = str(body.get("model") or "")
        inputs = body.get("input") or {}
        params = body.get("parameters") or {}
        if not model:
            return 'Required parameter "model" missing from request.'
        if path in (TEXT2IMAGE, IMAGE2IMAGE):
            if not inputs.get("prompt"):
                return "input.prompt is required."
            if "size" in params and not re.fullmatch(r"\d+\*\d+", str(params["size"])):
                return f"parameters.size {params['size']!r} must be width*height, e.g. 1024*1024."
            if path == IMAGE2IMAGE and not (inputs.get("images") or inputs.get("base_image_url")):
                return "An input image is required."
            return None
        media = inputs.get("media")
        if _new_protocol(model):
            if any(k in inputs for k in ("img_url", "first_frame_url", "last_frame_url", "reference_video_urls")):
                return f"{model} takes its images and videos as input.media items."
            if "size" in params:
                return f"{model} takes parameters.resolution and parameters.ratio, not size."
            types = {m.get("type") for m in media or []}
            if "i2v" in model and not types & {"first_frame", "first_clip"}:
                return f"image-to-video model {model} must provide an image"
            if "i2v" in model and not types <= _I2V_TYPES or "r2v" in model and not types <= _R2V_TYPES:
                return f"media type(s) {sorted(t for t in types if t)} are not supported by {model}."
            if "r2v" in model and not types & {"reference_image", "reference_video"}:
                return f"{model} needs at least one reference_image or reference_video."
        else:
            if media is not None:
                return f"{model} does not take input.media."
            if "kf2v" in model and (path != KEYFRAME or not inputs.get("first_frame_url")):
                return f"{model} needs first_frame_url on the image2video endpoint."
            if "i2v" in model and not inputs.get("img_url"):
                return f"image-to-video model {model} must provide an image"
            if "size" in params and not re.fullmatch(r"\d+\*\d+", str(params["size"])):
                return f"parameters.size {params['size']!r} must be width*height, e.g. 1280*720."
        if "resolution" in params and params["resolution"] not in ("480P", "720P", "1080P"):
            return f"parameters.resolution {params['resolution']!r} must be 480P, 720P or 1080P."
        duration = params.get("duration")
        if duration is not None and (not isinstance(duration, int) or not 2 <= duration <= 15):
            return "parameters.duration must be an integer between 2 and 15."
        if "t2v" in model and not inputs.get("prompt"):
            return "input.prompt is required."
        return None

    def _create(self, path: str, body: dict[str, Any]) -> Reply:
        task_id = str(uuid.uuid4())
        kind = "video" if path in (VIDEO, KEYFRAME) else "image"
        n = int((body.get("parameters") or {}).get("n") or 1) if kind == "image" else 1
        self.tasks[task_id] = {"kind": kind, "n": n, "step": 0, "body": body, "cancelled": False,
                               "submitted": time.strftime("%Y-%m-%d %H:%M:%S.000")}
        return Reply.json({"request_id": _rid(), "output": {"task_id": task_id, "task_status": "PENDING"}})

    def _status(self, task: dict[str, Any]) -> str:
        return "CANCELED" if task["cancelled"] else self.steps[min(task["step"], len(self.steps) - 1)]

    def _task_call(self, method: str, rest: str) -> Reply:
        task_id, _, action = rest.partition("/")
        task = self.tasks.get(task_id)
        if method == "POST" and action == "cancel":
            if task is None:
                return error(404, "NotFound", f"Task {task_id} not found.")
            if self._status(task) != "PENDING":
                return error(400, "UnsupportedOperation",
                             "Failed to cancel the task, please confirm if the task is in PENDING status.")
            task["cancelled"] = True
            return Reply.json({"request_id": _rid()})
        if method != "GET" or action:
            return error(404, "InvalidURL", "url error, please check url！")
        if task is None:
            return Reply.json({"request_id": _rid(), "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
        if self.limit_next > 0:
            self.limit_next -= 1
            return error(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
        if not task["cancelled"]:
            task["step"] += 1
        status = self._status(task)
        output: dict[str, Any] = {"task_id": task_id, "task_status": status, "submit_time": task["submitted"]}
        answer: dict[str, Any] = {"request_id": _rid(), "output": output}
        if status == "SUCCEEDED":
            output["end_time"] = time.strftime("%Y-%m-%d %H:%M:%S.000")
            prompt = (task["body"].get("input") or {}).get("prompt") or ""
            if task["kind"] == "video":
                output["video_url"] = self._publish(f"{task_id}.mp4", MP4, "video/mp4")
                output["orig_prompt"] = prompt
                params = task["body"].get("parameters") or {}
                answer["usage"] = {"duration": params.get("duration", 5), "video_count": 1}
            else:
                output["results"] = [{"url": self._publish(f"{task_id}-{i}.png", PNG, "image/png"),
                                      "orig_prompt": prompt, "actual_prompt": f"{prompt} (extended)"}
                                     for i in range(task["n"])]
                output["task_metrics"] = {"TOTAL": task["n"], "SUCCEEDED": task["n"], "FAILED": 0}
                answer["usage"] = {"image_count": task["n"]}
        elif status == "FAILED":
            output.update(code=self.fail_code[0], message=self.fail_code[1])
        return Reply.json(answer)

    def _publish(self, name: str, data: bytes, media_type: str) -> str:
        self.files[name] = (data, media_type, time.time() + self.expires)
        # Signed like OSS: the signature is only there to look like one.
        sig = hashlib.sha256(name.encode()).hexdigest()[:16]
        return f"{self.base}/files/{name}?Expires={int(time.time() + self.expires)}&Signature={sig}"

    # ------------------------------------------------------------------ synchronous calls

    def _sync_image(self, body: dict[str, Any]) -> Reply:
        messages = (body.get("input") or {}).get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")
        content = messages[0].get("content") if isinstance(messages[0], dict) else None
        if not isinstance(content, list) or not any(isinstance(p, dict) and p.get("text") for p in content):
            return invalid("input.messages[0].content must hold a text item.")
        params = body.get("parameters") or {}
        size = str(params.get("size", "1328*1328"))
        if not re.fullmatch(r"\d+\*\d+|[124]K", size):
            return invalid(f"parameters.size {size!r} must be width*height, e.g. 1664*928.")
        n = int(params.get("n") or 1)
        rid = _rid()
        images = [{"image": self._publish(f"{rid}-{i}.png", PNG, "image/png")} for i in range(n)]
        w, _, h = size.partition("*")
        return Reply.json({"output": {"choices": [{"finish_reason": "stop",
                                                   "message": {"role": "assistant", "content": images}}]},
                           "usage": {"width": int(w) if w.isdigit() else 1024,
                                     "height": int(h) if h.isdigit() else 1024, "image_count": n},
                           "request_id": rid})

    def _speech(self, body: dict[str, Any], streamed: bool = False) -> Reply:
        inputs = body.get("input") or {}
        text = inputs.get("text")
        if not isinstance(text, str) or not text:
            return error(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")
        voice = inputs.get("voice")
        if voice not in ("Cherry", "Serena", "Ethan", "Chelsie", "Dylan", "Jada", "Sunny", "Nofish", "Jennifer"):
            return invalid(f"Voice {voice!r} is not supported by {body.get('model')}.")
        rid = _rid()
        expires = int(time.time() + self.expires)
        audio = {"url": self._publish(f"{rid}.wav", WAV, "audio/wav"), "expires_at": expires, "data": "",
                 "id": f"audio_{rid}"}
        usage: dict[str, Any] = {"characters": len(text)} if "qwen3" in str(body.get("model")) else \
            {"input_tokens": len(text), "output_tokens": 120, "total_tokens": len(text) + 120}
        if not streamed:
            return Reply.json({"request_id": rid, "output": {"finish_reason": "stop", "audio": audio},
                               "usage": usage})
        # SSE: base64 PCM chunks with finish_reason "null", then "stop" with the whole file's URL.
        size = -(-len(PCM) // self.speech_pieces)
        objs = [{"request_id": rid, "output": {"finish_reason": "null", "audio": {
            "data": base64.b64encode(PCM[i:i + size]).decode(), "id": f"audio_{rid}", "expires_at": expires,
            "url": ""}}, "usage": usage} for i in range(0, len(PCM), size)]
        events = [b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:" % (i + 1) + orjson.dumps(o) + b"\n\n"
                  for i, o in enumerate(objs)]
        if self.speech_fail_after is not None:
            events = events[:self.speech_fail_after] + [
                b"id:%d\nevent:error\n:HTTP_STATUS/429\ndata:" % (self.speech_fail_after + 1) + orjson.dumps(
                    {"code": "Throttling.RateQuota", "message": "Requests rate limit exceeded, please try again later.",
                     "request_id": rid}) + b"\n\n"]
        else:
            events.append(b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:" % (len(events) + 1) + orjson.dumps(
                {"request_id": rid, "output": {"finish_reason": "stop", "audio": {**audio, "data": ""}}, "usage": usage}))
            events[-1] += b"\n\n"
        return Reply.sse(events, headers={"Content-Type": "text/event-stream;charset=UTF-8"},
                         delay=self.speech_delay)

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        model = str(body.get("model") or "")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return error(400, "InvalidParameter", "input must be a string or a list of strings.")
        limit = 25 if model.endswith(("-v1", "-v2")) else 10
        if len(texts) > limit:
            return error(400, "InvalidParameter", f"batch size is invalid, it should not be larger than {limit}.")
        if body.get("encoding_format", "float") != "float":
            return error(400, "InvalidParameter", "encoding_format only supports float.")
        dims = int(body.get("dimensions") or 1024)
        data = [{"embedding": _vector(t, dims), "index": i, "object": "embedding"} for i, t in enumerate(texts)]
        tokens = sum(len(t) for t in texts)
        return Reply.json({"data": data, "model": model, "object": "list",
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}, "id": _rid()})


def _vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % 32] - 128) / 128, 4) for i in range(dims)]
