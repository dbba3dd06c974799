"""Hunyuan video on Tencent Cloud's VCLM API (version 2024-05-23): `SubmitHunyuanToVideoJob`
and `DescribeHunyuanToVideoJob`, signed with TC3 (`relayport_hunyuan.tc3`).

Text or one image (URL or base64) in, one 720p video out; `Status` goes WAIT -> RUN -> DONE
(or FAIL); `ResultVideoUrl` lasts 24 hours. Errors come as `{"Response": {"Error": {Code,
Message}, "RequestId"}}`, under HTTP 200 as Tencent Cloud answers them.
"""

from __future__ import annotations

from typing import Any

import orjson

from relayport.model import (
    GatewayError,
    MediaKind,
    MediaOutput,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskStatus,
    TaskUpdate,
    UpstreamRequest,
    UpstreamResponse,
)
from relayport.provider import Deployment

VERSION = "2024-05-23"
DEFAULT_REGION = "ap-guangzhou"
PROMPT_LIMIT = 200  # characters, Tencent's limit for `Prompt`
_STATUS = {"WAIT": TaskStatus.QUEUED, "RUN": TaskStatus.RUNNING, "DONE": TaskStatus.SUCCEEDED,
           "FAIL": TaskStatus.FAILED}
# Tencent Cloud error codes that mean "try again later".
_RETRYABLE = ("RequestLimitExceeded", "ResourceUnavailable", "InternalError", "FailedOperation.InnerError")
_LIMITS = ("RequestLimitExceeded", "LimitExceeded", "ResourceInsufficient")


def _headers(deployment: Deployment, action: str) -> dict[str, str]:
    region = deployment.headers.get("X-TC-Region", DEFAULT_REGION)
    return {**deployment.headers, "Content-Type": "application/json; charset=utf-8", "X-TC-Action": action,
            "X-TC-Version": VERSION, "X-TC-Region": region}


def _image(value: str) -> dict[str, str]:
    if value.startswith("data:"):
        return {"Base64": value.split(",", 1)[1] if "," in value else ""}
    return {"Url": value}


def submit(deployment: Deployment, request: MediaRequest) -> UpstreamRequest:
    if request.kind is not MediaKind.VIDEO:
        raise GatewayError(400, f"hunyuan: model '{request.model}' makes videos; use /v1/videos/generations.",
                           param="model", code="unsupported_operation")
    prompt = (request.prompt or "").strip()
    if not prompt:
        raise GatewayError(400, "hunyuan: a prompt is required.", param="prompt", code="missing_required_parameter")
    if len(prompt) > PROMPT_LIMIT:
        raise GatewayError(400, f"hunyuan: the prompt is {len(prompt)} characters; Hunyuan video takes at most "
                           f"{PROMPT_LIMIT}.", param="prompt", code="string_above_max_length")
    body: dict[str, Any] = {k: v for k, v in request.extra.items() if k[:1].isupper()}  # Tencent's own fields
    body["Prompt"] = prompt
    adjustments: list[str] = []
    if request.media.images:
        body["Image"] = _image(request.media.images[0])
        if len(request.media.images) > 1:
            adjustments.append("only the first image is used")
    if request.resolution or request.size:
        if (request.resolution or "").lower() not in ("", "720p"):
            adjustments.append("resolution set to 720p")  # the only one offered
        body["Resolution"] = "720p"
    if isinstance(request.extra.get("watermark"), bool):
        body["LogoAdd"] = 1 if request.extra["watermark"] else 0
    if request.duration is not None or request.aspect_ratio or request.negative_prompt:
        adjustments.append("duration, aspect_ratio and negative_prompt dropped")  # not fields of this API
    return UpstreamRequest("POST", deployment.url("/"), _headers(deployment, "SubmitHunyuanToVideoJob"),
                           orjson.dumps(body), adjustments=adjustments)


def _response(response: UpstreamResponse) -> dict[str, Any]:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "hunyuan: the answer is not JSON.", code="bad_upstream_response") from None
    resp = obj.get("Response") if isinstance(obj, dict) else None
    if not isinstance(resp, dict):
        raise GatewayError(502, "hunyuan: the answer has no Response.", code="bad_upstream_response")
    if isinstance(resp.get("Error"), dict):
        raise api_error(resp)
    return resp


def api_error(resp: dict[str, Any]) -> GatewayError:
    code = str(resp["Error"].get("Code") or "")
    message = str(resp["Error"].get("Message") or "error")
    status = (401 if code.startswith("AuthFailure") else
              429 if code.startswith(_LIMITS) else
              503 if code.startswith(_RETRYABLE) else
              400 if code.startswith(("InvalidParameter", "MissingParameter", "UnsupportedOperation")) else
              403 if code.startswith(("UnauthorizedOperation", "OperationDenied")) else 502)
    return GatewayError(status, f"hunyuan: {message} ({code}).", code=code or None,
                        retryable=status in (429, 503), extra={"request_id": resp.get("RequestId")})


def parse_submit(deployment: Deployment, request: MediaRequest, response: UpstreamResponse) -> SubmittedTask:
    job = _response(response).get("JobId")
    if not job:
        raise GatewayError(502, "hunyuan: the submit answer has no JobId.", code="bad_upstream_response")
    return SubmittedTask(str(job), TaskUpdate(TaskStatus.QUEUED))


def poll(deployment: Deployment, task: TaskRecord) -> UpstreamRequest:
    return UpstreamRequest("POST", deployment.url("/"), _headers(deployment, "DescribeHunyuanToVideoJob"),
                           orjson.dumps({"JobId": task.vendor_task_id}))


def parse_poll(deployment: Deployment, task: TaskRecord, response: UpstreamResponse) -> TaskUpdate:
    resp = _response(response)
    word = str(resp.get("Status"))
    status = _STATUS.get(word)
    if status is None:
        raise GatewayError(502, f"hunyuan: unknown job status {word!r}.", code="bad_upstream_response")
    outputs: list[MediaOutput] = []
    if status is TaskStatus.SUCCEEDED:
        url = resp.get("ResultVideoUrl")
        if not isinstance(url, str) or not url:
            raise GatewayError(502, "hunyuan: a DONE job without ResultVideoUrl.", code="bad_upstream_response")
        outputs = [MediaOutput(url=url, media_type="video/mp4")]
    error = None
    if status is TaskStatus.FAILED:
        code = str(resp.get("ErrorCode") or "FailedOperation")
        moderated = "Moderation" in code or "Audit" in code
        error = GatewayError(422 if moderated else 502, f"hunyuan: {resp.get('ErrorMessage') or 'the job failed'} "
                             f"({code}).", code=code)
    return TaskUpdate(status, outputs=outputs, error=error)


def map_error(response: UpstreamResponse) -> GatewayError | None:
    """Non-2xx answers from the API gateway in front of VCLM, when they carry the envelope."""
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    resp = obj.get("Response") if isinstance(obj, dict) else None
    if not isinstance(resp, dict) or not isinstance(resp.get("Error"), dict):
        return None
    return api_error(resp)
