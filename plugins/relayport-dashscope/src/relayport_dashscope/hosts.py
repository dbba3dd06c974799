"""DashScope's hosts and the two API roots under each: one configured `base_url` serves both.

A deployment may name the host root (`https://dashscope.aliyuncs.com`), the OpenAI-compatible
root (`.../compatible-mode/v1`, what the OpenAI SDK is given) or the native root (`.../api/v1`,
what DashScope's own SDK calls `base_http_api_url`); the other root is derived by swapping the
suffix, so a proxy or mirror in `base_url` serves both APIs.
"""

from __future__ import annotations

from functools import lru_cache

from relayport.model.errors import GatewayError
from relayport.provider import Deployment

BEIJING = "https://dashscope.aliyuncs.com"
INTERNATIONAL = "https://dashscope-intl.aliyuncs.com"  # Singapore; keys are region-bound
US = "https://dashscope-us.aliyuncs.com"
REGIONS = {"cn": BEIJING, "beijing": BEIJING, "intl": INTERNATIONAL, "singapore": INTERNATIONAL, "us": US}

COMPAT_ROOT = "/compatible-mode/v1"
NATIVE_ROOT = "/api/v1"
DEFAULT_BASE_URL = BEIJING + COMPAT_ROOT


@lru_cache(maxsize=256)  # a handful of configured base URLs, asked on every call
def host_root(base_url: str) -> str:
    """The base URL without either API root."""
    url = base_url.rstrip("/")
    for suffix in (COMPAT_ROOT, NATIVE_ROOT):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def _root(dep: Deployment) -> str:
    region = dep.options.get("region")
    if region is not None and dep.base_url == dep.provider.base_url:
        # `region` picks a host only while no base_url was configured for the model.
        host = REGIONS.get(str(region).lower())
        if host is None:
            raise GatewayError(500, f"dashscope: unknown region {region!r} in the model's options; "
                                    f"use one of {', '.join(sorted(REGIONS))}.", code="config_error")
        return host
    return host_root(dep.base_url)


def api_host(dep: Deployment) -> str:
    """The host both APIs (and the Anthropic-compatible `/apps/anthropic`) live under."""
    return _root(dep)


def compat_url(dep: Deployment, path: str = "/chat/completions") -> str:
    return _root(dep) + COMPAT_ROOT + path


def native_url(dep: Deployment, path: str) -> str:
    return _root(dep) + NATIVE_ROOT + path
