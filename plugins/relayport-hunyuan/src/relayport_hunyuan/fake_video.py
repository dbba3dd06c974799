"""A fake of Tencent Cloud's VCLM API for tests: `POST /` with `X-TC-Action`, TC3-HMAC-SHA256
signatures checked over the bytes received (as Tencent's signing guide builds them), jobs that go
WAIT -> RUN -> DONE one status per describe, `ResultVideoUrl` links that expire, and the
`{"Response": {"Error": {Code, Message}, RequestId}}` envelope under HTTP 200 (bad signature,
bad parameters, the one-job concurrency limit, request rate limits)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook

__all__ = ["KEY", "MP4", "PNG", "SECRET_ID", "SECRET_KEY", "FakeVclm"]

SECRET_ID = "AKIDhunyuanvideotest0123456789"
SECRET_KEY = "hunyuan-video-secret-key-0123456789"
KEY = f"{SECRET_ID}|{SECRET_KEY}"


def reply(resp: dict[str, Any]) -> web.Response:
    return web.json_response({"Response": {**resp, "RequestId": str(uuid.uuid4())}})


def error(code: str, message: str) -> web.Response:
    return reply({"Error": {"Code": code, "Message": message}})


def expected_signature(rec: RecordedRequest, secret_key: str, date: str, timestamp: str) -> str:
    ctype, host = rec.headers.get("content-type", ""), rec.headers.get("host", "")
    canonical = (f"POST\n/\n\ncontent-type:{ctype}\nhost:{host}\n\ncontent-type;host\n"
                 + hashlib.sha256(rec.body).hexdigest())
    to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{date}/vclm/tc3_request\n"
               + hashlib.sha256(canonical.encode()).hexdigest())
    k = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"vclm", hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeVclm(FakeUpstream):
    def __init__(self, lifetime: float = 86400.0) -> None:
        super().__init__(default=self._answer)
        self.book = TaskBook(("WAIT", "RUN", "DONE"))
        self.files = ExpiringFiles(lifetime)  # ResultVideoUrl: valid 24 hours
        self.concurrency = 1  # Tencent's default: one job at a time per account
        self.throttle_next = 0

    def _check_signature(self, rec: RecordedRequest) -> web.Response | None:
        auth = rec.headers.get("authorization", "")
        timestamp = rec.headers.get("x-tc-timestamp", "")
        if not auth.startswith("TC3-HMAC-SHA256 ") or not timestamp.isdigit():
            return error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        fields = dict(p.strip().split("=", 1) for p in auth[len("TC3-HMAC-SHA256 "):].split(","))
        secret_id, date, service, terminator = (fields.get("Credential", "") + "////").split("/")[:4]
        if abs(time.time() - int(timestamp)) > 300:
            return error("AuthFailure.SignatureExpire", "Signature expired.")
        if secret_id != SECRET_ID:
            return error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        if (service, terminator, fields.get("SignedHeaders")) != ("vclm", "tc3_request", "content-type;host") \
                or date != datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") \
                or not hmac.compare_digest(fields.get("Signature", ""),
                                           expected_signature(rec, SECRET_KEY, date, timestamp)):
            return error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        return None

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if rec.method != "POST" or rec.path != "/":
            return web.Response(status=404)
        denied = self._check_signature(rec)
        if denied is not None:
            return denied
        if rec.headers.get("x-tc-version") != "2024-05-23" or not rec.headers.get("x-tc-region"):
            return error("InvalidParameter", "X-TC-Version and X-TC-Region are required.")
        action = rec.headers.get("x-tc-action")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return error("RequestLimitExceeded", "Your current request times exceeds the limit.")
        if action == "SubmitHunyuanToVideoJob":
            return self._submit(rec.json())
        if action == "DescribeHunyuanToVideoJob":
            return self._describe(rec.json())
        return error("InvalidAction", f"The action {action} does not exist.")

    def _submit(self, body: dict[str, Any]) -> web.Response:
        prompt = body.get("Prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return error("MissingParameter", "The Prompt parameter is missing.")
        if len(prompt.strip()) > 200:
            return error("InvalidParameterValue.TextLengthExceed", "The Prompt is longer than 200 characters.")
        if body.get("Resolution", "720p") != "720p":
            return error("InvalidParameterValue.ParameterValueError", "Resolution only supports 720p.")
        image = body.get("Image")
        if image is not None and not (isinstance(image, dict) and (image.get("Url") or image.get("Base64"))):
            return error("InvalidParameterValue.ParameterValueError", "Image needs Url or Base64.")
        running = sum(1 for t in self.book.tasks.values() if self.book.status(t) in ("WAIT", "RUN"))
        if running >= self.concurrency:
            return error("RequestLimitExceeded.JobNumExceed", "The number of concurrent jobs exceeds the limit.")
        job = str(1_387_262_242_604_040_192 + len(self.book.tasks))
        self.book.add(job, body=body)
        return reply({"JobId": job})

    def _describe(self, body: dict[str, Any]) -> web.Response:
        task = self.book.advance(str(body.get("JobId")))
        if task is None:
            return error("ResourceNotFound.JobNotExist", "The job does not exist.")
        status = self.book.status(task)
        resp = {"Status": status, "ErrorCode": "", "ErrorMessage": "", "ResultVideoUrl": ""}
        if status == "DONE":
            resp["ResultVideoUrl"] = self.files.publish(self.url, f"{task['id']}.mp4", MP4, "video/mp4")
        if status == "FAIL":
            resp.update(ErrorCode="FailedOperation.ModerationFailed", ErrorMessage="审核未通过")
        return reply(resp)
