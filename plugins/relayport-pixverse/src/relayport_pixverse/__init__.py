"""relayport plugin for PixVerse: text-to-video and image-to-video (upload, then generate) tasks."""

from __future__ import annotations

from relayport.provider import ProviderSpec
from relayport.tasks.vendor_plugin import TaskVendorPlugin
from relayport_pixverse import api

PIXVERSE = ProviderSpec(
    name="pixverse",
    base_url="https://app-api.pixverse.ai",
    key_env=("PIXVERSE_API_KEY",),
    # PixVerse wants `API-KEY` plus a fresh `Ai-trace-id` per call: the plugin writes both.
    auth="none",
    model_patterns=("pixverse-*",),
    capabilities=frozenset({"video_generation"}),
    description="PixVerse video generation (API-KEY + Ai-trace-id)",
)

plugin = TaskVendorPlugin(PIXVERSE, submit=api.submit, parse_submit=api.parse_submit, poll=api.poll,
                          parse_poll=api.parse_poll, map_error=api.map_error, urls_to_fetch=api.urls_to_fetch)
