"""relayport-anthropic: Claude behind the OpenAI surface, and the Anthropic Messages surface.

All Anthropic wire-format knowledge, both directions:
egress (`egress`, `response`, `stream`, `errors`) translates canonical calls to the Messages
API; ingress (`ingress`, `events`, `surface`) serves `/v1/messages` to Anthropic clients for
every configured model; `passthrough` forwards Anthropic clients to Anthropic-format vendors.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relayport-anthropic")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
