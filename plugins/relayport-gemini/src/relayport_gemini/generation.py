"""Shared by Veo and the image models: client images as Google's inline image objects (Google
does not download image URLs for these calls: the core does, `urls_to_fetch`), and OpenAI's
pixel sizes as Google's aspect ratios."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
from urllib.parse import urlsplit

from relayport.media_sizes import parse_size
from relayport.model import GatewayError, MediaRequest
from relayport.model.http import Fetched

# The ratios Imagen, Veo and Gemini image output accept (Veo takes the first two only).
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "21:9")


def urls_to_fetch(request: MediaRequest) -> list[str]:
    """The input images Google will not read itself: every http(s) one (it takes bytes)."""
    return [u for u in request.media.images if u.startswith(("http://", "https://"))]


def image_object(url: str, field: str, fetched: Mapping[str, Fetched]) -> dict[str, str]:
    """`{bytesBase64Encoded, mimeType}` (what the google-genai SDK sends for Veo's
    `image`/`lastFrame` and Imagen) from a data URL or the bytes the core fetched."""
    got = fetched.get(url)
    if got is not None:
        mime = got.content_type if got.content_type.startswith("image/") else None
        mime = mime or mimetypes.guess_type(urlsplit(url).path)[0] or "image/png"
        return {"bytesBase64Encoded": base64.b64encode(got.body).decode(), "mimeType": mime}
    header, sep, data = url[5:].partition(",") if url.startswith("data:") else ("", "", "")
    if not sep or ";base64" not in header:
        raise GatewayError(400, f"gemini: '{field}' must be an http(s) URL or a data URL (data:image/png;base64,...).",
                           param=field, code="invalid_image_url")
    return {"bytesBase64Encoded": data, "mimeType": header.split(";", 1)[0] or "image/png"}


def aspect_ratio(size: str | None, allowed: tuple[str, ...], adjustments: list[str]) -> str | None:
    """The allowed ratio nearest to a `WxH` size; said in the adjustments when not exact."""
    wh = parse_size(size)
    if wh is None:
        return None
    want = wh[0] / wh[1]

    def value(ratio: str) -> float:
        w, h = ratio.split(":")
        return int(w) / int(h)

    best = min(allowed, key=lambda r: abs(value(r) - want))
    if abs(value(best) - want) > 0.01:
        adjustments.append(f"size {size} sent as aspect ratio {best}")
    return best
