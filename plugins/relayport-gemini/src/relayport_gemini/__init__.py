"""relayport-gemini: Gemini behind the OpenAI surface, and the Gemini API surface.

All Gemini wire-format knowledge, both directions: egress (`egress`, `media`, `schema`,
`response`, `stream`, `errors`, `usage`) translates canonical calls to `generateContent`;
`testing` holds a fake Gemini API that enforces the rules gateways most often break.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relayport-gemini")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
