"""A fake of the Gemini API's media methods under `/v1beta`: Veo long-running operations
(running, then done with samples, an error, or samples removed by safety filters), the Files
API download that needs the key and redirects to storage, Imagen `:predict`, Gemini image
output, and `:embedContent` / `:batchEmbedContents`; Google's error envelope and 429s with
`RetryInfo`. Input images must be `{bytesBase64Encoded, mimeType}` (as the google-genai SDK
sends them); other shapes get Google's 400."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from aiohttp import web

from relayport.testing.fakes import FakeUpstream, RecordedRequest
from relayport.testing.openai_media import vector
from relayport.testing.task_fakes import MP4, PNG, ExpiringFiles, TaskBook

KEY = "AIza-fake-gemini-media-key"
V = "/v1beta"
_IMAGEN_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}


def google_error(code: int, status: str, message: str, details: list[Any] | None = None) -> web.Response:
    err: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return web.json_response({"error": err}, status=code)


def _bad(message: str) -> web.Response:
    return google_error(400, "INVALID_ARGUMENT", message)


def _image_ok(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj.get("bytesBase64Encoded")) and bool(obj.get("mimeType"))


class FakeGeminiMedia(FakeUpstream):
    def __init__(self, api_key: str = KEY) -> None:
        super().__init__(default=self._answer)
        self.api_key = api_key
        # The operation per poll: "running", then "done" (or "error", "filtered" when a test says).
        self.book = TaskBook(("running", "running", "done"))
        self.files = ExpiringFiles(lifetime=2 * 86400)  # Veo videos stay two days
        self.file_downloads = 0

    def _authorised(self, rec: RecordedRequest) -> bool:
        return self.api_key in (rec.headers.get("x-goog-api-key"), rec.query.get("key"))

    async def _answer(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        served = self.files.serve(rec)
        if served is not None:
            return served
        if not self._authorised(rec):
            return google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}])
        path = rec.path.removeprefix(V)
        if rec.method == "GET" and path.startswith("/files/") and path.endswith(":download"):
            return self._download(path[len("/files/"):-len(":download")])
        if rec.method == "GET" and "/operations/" in path:
            return self._operation(path.lstrip("/"))
        model, _, action = path.removeprefix("/models/").partition(":")
        if rec.method != "POST" or not path.startswith("/models/"):
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        body = rec.json()
        handler = {"predictLongRunning": self._veo, "predict": self._imagen, "generateContent": self._image_output,
                   "embedContent": self._embed, "batchEmbedContents": self._batch_embed}.get(action)
        if handler is None:
            return google_error(404, "NOT_FOUND", f"Method {action} not found.")
        return handler(model, body)

    # ------------------------------------------------------------------ Veo

    def _veo(self, model: str, body: dict[str, Any]) -> web.Response:
        if not model.startswith("veo-"):
            return _bad(f"models/{model} is not found for API version v1beta, or is not supported for predictLongRunning.")
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1:
            return _bad("* instances: exactly one instance is required")
        inst = instances[0]
        if not inst.get("prompt") and "image" not in inst:
            return _bad("* instances[0].prompt: a prompt or an image is required")
        for field in ("image", "lastFrame"):
            if field in inst and not _image_ok(inst[field]):
                return _bad(f"* instances[0].{field}: bytesBase64Encoded and mimeType are required")
        if "lastFrame" in inst and "image" not in inst:
            return _bad("* instances[0].lastFrame: requires instances[0].image")
        params = body.get("parameters") or {}
        if params.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
            return _bad("* parameters.aspectRatio: must be 16:9 or 9:16")
        if params.get("durationSeconds", 8) not in (4, 6, 8):
            return _bad("* parameters.durationSeconds: must be 4, 6 or 8")
        if params.get("resolution", "720p") not in ("720p", "1080p"):
            return _bad("* parameters.resolution: must be 720p or 1080p")
        name = f"models/{model}/operations/{secrets.token_hex(6)}"
        self.book.add(name, body=body)
        return web.json_response({"name": name})

    def _operation(self, name: str) -> web.Response:
        if self.book.rate_limited():
            return google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
                                [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}])
        task = self.book.advance(name)
        if task is None:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        word = self.book.status(task)
        if word == "running":
            return web.json_response({"name": name})
        if word == "error":
            return web.json_response({"name": name, "done": True, "error": {
                "code": 3, "message": "The prompt could not be processed.", "status": "INVALID_ARGUMENT"}})
        result: dict[str, Any] = {}
        if word == "filtered":
            result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [
                "We encountered an issue with the audio for your prompt. You have not been charged."]}
        else:
            file_id = name.rsplit("/", 1)[1]
            count = (task["body"].get("parameters") or {}).get("sampleCount", 1)
            result = {"generatedSamples": [
                {"video": {"uri": f"{self.url}{V}/files/{file_id}-{i}:download?alt=media"}} for i in range(count)]}
        return web.json_response({"name": name, "done": True, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": result}})

    def _download(self, file_id: str) -> web.StreamResponse:
        self.file_downloads += 1
        url = self.files.publish(self.url, f"{file_id}.mp4", MP4, "video/mp4")
        raise web.HTTPFound(url)

    # ------------------------------------------------------------------ images

    def _imagen(self, model: str, body: dict[str, Any]) -> web.Response:
        if not model.startswith("imagen-"):
            return _bad(f"models/{model} is not found for API version v1beta, or is not supported for predict.")
        inst = (body.get("instances") or [{}])[0]
        params = body.get("parameters") or {}
        if not inst.get("prompt"):
            return _bad("* instances[0].prompt: a prompt is required")
        count = params.get("sampleCount", 4)
        if not isinstance(count, int) or not 1 <= count <= 4:
            return _bad("* parameters.sampleCount: must be between 1 and 4")
        if params.get("aspectRatio", "1:1") not in _IMAGEN_RATIOS:
            return _bad("* parameters.aspectRatio: unsupported aspect ratio")
        if "blocked" in inst["prompt"]:
            return web.json_response({})  # every image filtered: Google leaves `predictions` out
        png = base64.b64encode(PNG).decode()
        return web.json_response({"predictions": [{"bytesBase64Encoded": png, "mimeType": "image/png"}] * count})

    def _image_output(self, model: str, body: dict[str, Any]) -> web.Response:
        config = body.get("generationConfig") or {}
        if "IMAGE" in (config.get("responseModalities") or []) and "-image" not in model:
            return _bad("Model does not support the requested response modalities: image")
        parts = (body.get("contents") or [{}])[0].get("parts") or []
        for p in parts:
            if "inlineData" in p and not {"mimeType", "data"} <= set(p["inlineData"]):
                return _bad("* contents[0].parts: inlineData needs mimeType and data")
        out_parts: list[dict[str, Any]] = [{"text": "Here is your image."}]
        if "IMAGE" in (config.get("responseModalities") or []):
            out_parts.append({"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}})
        return web.json_response({
            "candidates": [{"content": {"role": "model", "parts": out_parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1290, "totalTokenCount": 1299},
            "modelVersion": model, "responseId": secrets.token_urlsafe(12)})

    # ------------------------------------------------------------------ embeddings

    def _vector(self, model: str, item: dict[str, Any]) -> list[float] | web.Response:
        dims = item.get("outputDimensionality", 3072)
        if not isinstance(dims, int) or not 128 <= dims <= 3072:
            return _bad("* outputDimensionality: must be between 128 and 3072")
        parts = (item.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts)
        if not text:
            return _bad("* content: must not be empty")
        return vector(text, dims)

    def _embed(self, model: str, body: dict[str, Any]) -> web.Response:
        if "embedding" not in model:
            return _bad(f"models/{model} is not found for API version v1beta, or is not supported for embedContent.")
        got = self._vector(model, body)
        return got if isinstance(got, web.Response) else web.json_response({"embedding": {"values": got}})

    def _batch_embed(self, model: str, body: dict[str, Any]) -> web.Response:
        out = []
        for i, item in enumerate(body.get("requests") or ()):
            if item.get("model") != f"models/{model}":
                return _bad(f"* requests[{i}].model: must be models/{model}, as in the URL")
            got = self._vector(model, item)
            if isinstance(got, web.Response):
                return got
            out.append({"values": got})
        return web.json_response({"embeddings": out})


