"""multipart/form-data bodies for vendor requests (image edits, video references).

Hooks are pure, so a plugin builds the whole body as bytes here and hands it over in an
`UpstreamRequest`; files given as `data:` URLs are decoded into file parts.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from relayport.model.errors import GatewayError

_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif", "video/mp4": "mp4",
        "audio/mpeg": "mp3", "audio/wav": "wav"}


def decode_data_url(url: str, param: str) -> tuple[bytes, str]:
    """`data:<type>;base64,<data>` -> (bytes, media type); a 400 naming `param` otherwise."""
    head, sep, data = url.partition(",")
    if not url.startswith("data:") or not sep or not head.endswith(";base64"):
        raise GatewayError(400, f"'{param}' must be an uploaded file or a base64 data URL for this model.",
                           param=param, code="invalid_value")
    try:
        return base64.b64decode(data, validate=True), head[5:-7] or "application/octet-stream"
    except (binascii.Error, ValueError):
        raise GatewayError(400, f"'{param}' is not valid base64.", param=param, code="invalid_value") from None


def encode(fields: dict[str, str], files: list[tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """(body, Content-Type) for plain fields and (name, bytes, media type) files."""
    boundary = "relayport" + secrets.token_hex(12)
    out: list[bytes] = []
    for name, value in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                   + value.encode() + b"\r\n")
    for i, (name, data, media_type) in enumerate(files):
        filename = f"file{i}.{_EXT.get(media_type, 'bin')}"
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                   f"Content-Type: {media_type}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"
