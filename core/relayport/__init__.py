"""relayport: a self-hosted LLM API gateway with pluggable vendors."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relayport")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]

from relayport.hookspecs import hookimpl  # noqa: E402  (re-exported for plugin authors)

__all__ += ["hookimpl"]
