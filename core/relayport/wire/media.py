"""Media requests as clients send them: the gateway's unified form (seed 003: `messages` +
`images[]`...) and OpenAI's forms (`prompt`, `input`, multipart edits), decoded to `MediaRequest`."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import BodyPartReader, web

from relayport.model.chat import MediaInputs
from relayport.model.errors import GatewayError
from relayport.model.media import MediaKind, MediaRequest
from relayport.wire.fields import get, invalid, url_list

# Fields every media form decodes; anything else is a vendor extra and rides in `extra`.
_DECODED = frozenset({
    "model", "prompt", "messages", "input", "negative_prompt", "n", "size", "duration", "seconds",
    "resolution", "aspect_ratio", "voice", "voice_id", "response_format", "seed", "images", "videos",
    "file_urls", "voices", "media_roles", "callback_url", "async", "stream", "stream_format",
})
_NUMBER = (int, float)


def prompt_of(messages: Any) -> str | None:
    """The text of the messages' contents (a string, or the text parts of an array), joined."""
    if not isinstance(messages, list):
        raise invalid("messages", "an array of messages")
    texts: list[str] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise invalid(f"messages[{i}]", "an object")
        content = m.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        elif content is not None:
            raise invalid(f"messages[{i}].content", "a string or an array of content parts")
    return "\n".join(t for t in texts if t) or None


def decode(body: dict[str, Any], kind: MediaKind) -> MediaRequest:
    """Either form; raises a 400 naming the field for bad input."""
    model = get(body, "model", str, "model", required=True)
    prompt = get(body, "prompt", str, "prompt")
    if prompt is None and "messages" in body:
        prompt = prompt_of(body["messages"])
    if prompt is None and kind is MediaKind.SPEECH:
        prompt = get(body, "input", str, "input")
    if not prompt and kind is not MediaKind.VIDEO:
        field = "input" if kind is MediaKind.SPEECH else "prompt"
        raise GatewayError(400, f"Missing required parameter: '{field}' (or 'messages').", param=field,
                           code="missing_required_parameter")
    duration = body.get("duration", body.get("seconds"))
    if isinstance(duration, str):
        try:
            duration = float(duration)
        except ValueError:
            raise invalid("seconds", "a number of seconds") from None
    if duration is not None and (not isinstance(duration, _NUMBER) or isinstance(duration, bool) or duration <= 0):
        raise invalid("duration", "a positive number of seconds")
    n = get(body, "n", int, "n")
    if n is not None and not 1 <= n <= 10:
        raise GatewayError(400, "'n' must be between 1 and 10.", param="n", code="invalid_value")
    voice = body.get("voice", body.get("voice_id"))
    if isinstance(voice, dict):  # OpenAI's custom voice object {"id": ...}
        voice = voice.get("id")
    if voice is not None and not isinstance(voice, str):
        raise invalid("voice", "a voice name")
    media = MediaInputs(images=url_list(body, "images"), videos=url_list(body, "videos"),
                        file_urls=url_list(body, "file_urls"), voices=url_list(body, "voices"),
                        roles=get(body, "media_roles", dict, "media_roles") or {})
    extra = {k: v for k, v in body.items() if k not in _DECODED}
    stream = get(body, "stream_format", str, "stream_format") or "audio"
    if stream not in ("audio", "sse"):
        raise GatewayError(400, f"Invalid value for 'stream_format': '{stream[:32]}'; expected 'audio' or 'sse'.",
                           param="stream_format", code="invalid_value")
    return MediaRequest(
        kind=kind, model=model, prompt=prompt,
        negative_prompt=get(body, "negative_prompt", str, "negative_prompt"),
        n=n, size=get(body, "size", str, "size"),
        duration=float(duration) if duration is not None else None,
        resolution=get(body, "resolution", str, "resolution"),
        aspect_ratio=get(body, "aspect_ratio", str, "aspect_ratio"),
        voice=voice, response_format=get(body, "response_format", str, "response_format"),
        seed=get(body, "seed", int, "seed"), media=media, extra=extra,
        asynchronous=body.get("async") in (True, "true"), stream=stream,
    )


def seed_form(body: dict[str, Any]) -> bool:
    """Calls in the unified gateway form (seed 003) name the prompt in `messages`; they are
    answered with the vendor's own result structure, as that document shows."""
    return "messages" in body and "prompt" not in body and "input" not in body


async def read_form(request: web.Request, file_fields: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A multipart body: plain fields, and files as data URLs by field name (`image`, `image[]`
    and `image[0]` are one field: clients spell repeated file parts all three ways)."""
    fields: dict[str, Any] = {}
    files: dict[str, list[str]] = {}
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            name = part.name.split("[", 1)[0]
            if part.filename is not None or name in file_fields:
                data = await part.read(decode=False)
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                files.setdefault(name, []).append(f"data:{ctype};base64,{base64.b64encode(data).decode()}")
            else:
                fields[name] = (await part.read(decode=True)).decode()
    except (ValueError, AssertionError) as exc:
        raise GatewayError(400, f"The multipart body could not be read: {exc}.", code="invalid_multipart") from None
    for key in ("n", "seed"):
        if key in fields:
            try:
                fields[key] = int(fields[key])
            except ValueError:
                raise invalid(key, "an integer") from None
    return fields, files


def size_of(size: str | None) -> tuple[int, int] | None:
    """Width and height from a size as clients spell it: `1024x768`, `1664*928` (DashScope and
    the seed's form), `1024X768`, `1024×768`. None for anything else (`2K`, `auto`)."""
    if not size:
        return None
    for sep in ("x", "*", "X", "×"):
        w, found, h = size.partition(sep)
        if found and w.strip().isdigit() and h.strip().isdigit():
            return int(w), int(h)
    return None
