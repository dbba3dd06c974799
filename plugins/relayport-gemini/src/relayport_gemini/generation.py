"""Shared by Veo and the image models: client images as Google's inline image objects, and
OpenAI's pixel sizes as Google's aspect ratios."""

from __future__ import annotations

from relayport.model import GatewayError
from relayport.wire.media import size_of

# The ratios Imagen, Veo and Gemini image output accept (Veo takes the first two only).
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "21:9")


def image_object(url: str, field: str) -> dict[str, str]:
    """`{bytesBase64Encoded, mimeType}` from a data URL (what the google-genai SDK sends for
    Veo's `image`/`lastFrame` and Imagen). Google does not fetch http(s) URLs for these calls."""
    header, sep, data = url[5:].partition(",") if url.startswith("data:") else ("", "", "")
    if not sep or ";base64" not in header:
        raise GatewayError(400, f"gemini: '{field}' must be a data URL (data:image/png;base64,...); Google does not "
                                "download image URLs for media generation.", param=field, code="invalid_image_url")
    return {"bytesBase64Encoded": data, "mimeType": header.split(";", 1)[0] or "image/png"}


def aspect_ratio(size: str | None, allowed: tuple[str, ...], adjustments: list[str]) -> str | None:
    """The allowed ratio nearest to a `WxH` size; said in the adjustments when not exact."""
    wh = size_of(size)
    if wh is None or not wh[1]:
        return None
    want = wh[0] / wh[1]

    def value(ratio: str) -> float:
        w, h = ratio.split(":")
        return int(w) / int(h)

    best = min(allowed, key=lambda r: abs(value(r) - want))
    if abs(value(best) - want) > 0.01:
        adjustments.append(f"size {size} sent as aspect ratio {best}")
    return best
