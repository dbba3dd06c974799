"""MiniMax's media endpoints for `FakeMiniMax`: Hailuo video tasks, files, image-01 and t2a_v2.

- `POST /v1/video_generation` -> `{task_id, base_resp}`; each `GET /v1/query/video_generation`
  moves the task one step of `steps` (default Preparing -> Queueing -> Processing -> Success);
  `Success` carries `file_id` and the frame size, `Fail` a `base_resp` code (1027 by default).
- `GET /v1/files/retrieve?file_id=` -> `{file: {..., download_url}, base_resp}`; the URL serves
  the video until `expires` seconds after the retrieve (403 afterwards).
- Errors come as HTTP 200 with `base_resp.status_code != 0`: 2013 for bad parameters, 1004 for
  a wrong key, 1002 for the rate limit (`limit_next` answers that many queries with it,
  `retrieve_limit` that many file retrieves).
- `POST /v1/image_generation` answers `data.image_urls` (or `image_base64`), `metadata`;
  `POST /v1/t2a_v2` the audio as **hex** in `data.audio`, with `extra_info`.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import orjson

from relayport.testing.fakes import Reply
from relayport.testing.openai_media import MP4

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200)) + b"\xff\xd9"
MP3 = b"ID3\x04\x00\x00" + bytes(range(256)) * 4
_RESOLUTIONS = {"512P", "720P", "768P", "1080P"}


def base_resp(code: int = 0, message: str = "success") -> dict[str, Any]:
    return {"status_code": code, "status_msg": message}


def failure(code: int, message: str) -> Reply:
    return Reply.json({"base_resp": base_resp(code, message)})


class MiniMaxMedia:
    def __init__(self, base: str) -> None:
        self.base = base
        self.tasks: dict[str, dict[str, Any]] = {}
        self.steps: tuple[str, ...] = ("Preparing", "Queueing", "Processing", "Success")
        self.fail = (1027, "output new_sensitive")
        self.expires = 9 * 3600.0
        self.limit_next = 0
        self.retrieve_limit = 0  # file retrieves to answer with 1002, like `limit_next`
        self.files: dict[str, float] = {}  # file_id -> download URL expiry
        # Streamed speech: chunks, a pause before each, a cut or a base_resp error after some.
        self.speech_pieces = 4
        self.speech_delay = 0.0
        self.speech_drop_after: int | None = None
        self.speech_fail_after: int | None = None

    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply | None:
        if path == "/v1/video_generation" and method == "POST":
            return self._create(body)
        if path == "/v1/query/video_generation" and method == "GET":
            return self._query(query.get("task_id", ""))
        if path == "/v1/files/retrieve" and method == "GET":
            return self._retrieve(query.get("file_id", ""))
        if path == "/v1/image_generation" and method == "POST":
            return self._image(body)
        if path == "/v1/t2a_v2" and method == "POST":
            return self._speech(body)
        return None

    def download(self, file_id: str) -> bytes | None:
        expires = self.files.get(file_id)
        return MP4 if expires is not None and time.time() <= expires else None

    # ------------------------------------------------------------------ video

    def _create(self, body: dict[str, Any]) -> Reply:
        if not body.get("model") or not body.get("prompt") and not body.get("first_frame_image"):
            return failure(2013, "invalid params, model and prompt are required")
        if body.get("duration") not in (None, 6, 10):
            return failure(2013, "invalid params, duration must be 6 or 10")
        if body.get("resolution") not in (None, *_RESOLUTIONS):
            return failure(2013, f"invalid params, resolution {body['resolution']!r} is not supported")
        if body.get("duration") == 10 and body.get("resolution") == "1080P":
            return failure(2013, "invalid params, 1080P supports 6 s only")
        task_id = str(100000000000 + len(self.tasks) + 1)
        self.tasks[task_id] = {"step": 0, "body": body}
        return Reply.json({"task_id": task_id, "base_resp": base_resp()})

    def _query(self, task_id: str) -> Reply:
        task = self.tasks.get(task_id)
        if task is None:
            return failure(2013, "invalid params, task not found")
        if self.limit_next > 0:
            self.limit_next -= 1
            return failure(1002, "rate limit exceeded(RPM)")
        task["step"] += 1
        status = self.steps[min(task["step"], len(self.steps) - 1)]
        answer: dict[str, Any] = {"task_id": task_id, "status": status, "file_id": "", "base_resp": base_resp()}
        if status == "Success":
            answer.update(file_id=str(int(task_id) * 7), video_width=1920, video_height=1080)
        elif status == "Fail":
            answer["base_resp"] = base_resp(*self.fail)
        return Reply.json(answer)

    def _retrieve(self, file_id: str) -> Reply:
        if not file_id.isdigit() or not any(str(int(t) * 7) == file_id for t in self.tasks):
            return failure(2013, "invalid params, file not found")
        if self.retrieve_limit > 0:
            self.retrieve_limit -= 1
            return failure(1002, "rate limit exceeded(RPM)")
        self.files[file_id] = time.time() + self.expires
        return Reply.json({"file": {"file_id": int(file_id), "bytes": len(MP4), "created_at": int(time.time()),
                                    "filename": "output_aigc.mp4", "purpose": "video_generation",
                                    "download_url": f"{self.base}/download/{file_id}.mp4?Expires="
                                                    f"{int(self.files[file_id])}"},
                           "base_resp": base_resp()})

    # ------------------------------------------------------------------ synchronous calls

    def _image(self, body: dict[str, Any]) -> Reply:
        if not body.get("prompt"):
            return failure(2013, "invalid params, prompt is required")
        for side in ("width", "height"):
            value = body.get(side)
            if value is not None and (not isinstance(value, int) or value % 8 or not 512 <= value <= 2048):
                return failure(2013, f"invalid params, {side} must be 512-2048 and divisible by 8")
        n = int(body.get("n") or 1)
        data: dict[str, Any]
        if body.get("response_format") == "base64":
            data = {"image_base64": [base64.b64encode(JPEG).decode()] * n}
        else:
            data = {"image_urls": [f"{self.base}/images/{uuid.uuid4().hex}-{i}.jpeg" for i in range(n)]}
        return Reply.json({"id": uuid.uuid4().hex, "data": data,
                           "metadata": {"failed_count": "0", "success_count": str(n)}, "base_resp": base_resp()})

    def _speech(self, body: dict[str, Any]) -> Reply:
        text = body.get("text")
        voice = (body.get("voice_setting") or {}).get("voice_id")
        if not isinstance(text, str) or not text or not voice:
            return failure(2013, "invalid params, text and voice_setting.voice_id are required")
        if body.get("output_format", "hex") != "hex":
            return failure(2013, "invalid params, this fake speaks hex only")
        fmt = (body.get("audio_setting") or {}).get("format", "mp3")
        audio = MP3 if fmt == "mp3" else b"RIFF" + bytes(range(64)) if fmt == "wav" else bytes(range(128))
        if body.get("stream") is True and fmt == "wav":
            return failure(2013, "invalid params, wav is not supported in streaming mode")
        trace = str(uuid.uuid4())
        final = {
            "data": {"audio": audio.hex(), "status": 2, "ced": ""},
            "extra_info": {"audio_length": 3200, "audio_sample_rate": 32000, "audio_size": len(audio),
                           "bitrate": 128000, "word_count": len(text), "invisible_character_ratio": 0,
                           "usage_characters": len(text), "audio_format": fmt, "audio_channel": 1},
            "trace_id": trace, "base_resp": base_resp()}
        if body.get("stream") is not True:
            return Reply.json(final)
        # Streamed: hex chunks (`status` 1), then the closing event repeating the whole audio.
        size = -(-len(audio) // self.speech_pieces)
        events = [orjson.dumps({"data": {"audio": audio[i:i + size].hex(), "status": 1, "ced": ""},
                                "trace_id": trace, "base_resp": base_resp()})
                  for i in range(0, len(audio), size)]
        if self.speech_fail_after is not None:
            events = events[:self.speech_fail_after] + [orjson.dumps(
                {"data": None, "trace_id": trace, "base_resp": base_resp(1000, "unknown error")})]
        else:
            events.append(orjson.dumps(final))
        return Reply.sse([b"data: " + e + b"\n\n" for e in events], delay=self.speech_delay,
                         drop_after=self.speech_drop_after)
