"""relayport plugin for Kuaishou Kling: text2video / image2video tasks with per-call JWTs."""

from __future__ import annotations

from relayport.provider import ProviderSpec
from relayport.tasks.vendor_plugin import TaskVendorPlugin
from relayport_kling import api

KLING = ProviderSpec(
    name="kling",
    base_url="https://api-singapore.klingai.com",
    key_env=("KLING_API_KEY",),
    # The key is "access_key|secret_key"; the plugin signs a JWT per call (never the raw key).
    auth="none",
    model_patterns=("kling-*",),
    capabilities=frozenset({"video_generation"}),
    description="Kling video generation (JWT from access key + secret key)",
)

plugin = TaskVendorPlugin(KLING, submit=api.submit, parse_submit=api.parse_submit, poll=api.poll,
                          parse_poll=api.parse_poll, map_error=api.map_error)
