"""relayport plugin for Lightricks LTX: text and image to video, answered with the video itself."""

from __future__ import annotations

from relayport.provider import ProviderSpec
from relayport.tasks.vendor_plugin import TaskVendorPlugin
from relayport_ltx import api

LTX = ProviderSpec(
    name="ltx",
    base_url="https://api.ltx.video/v1",
    key_env=("LTX_API_KEY",),
    auth="bearer",
    model_patterns=("ltx-*",),
    capabilities=frozenset({"video_generation"}),
    description="Lightricks LTX video (synchronous MP4 answers)",
)

plugin = TaskVendorPlugin(LTX, submit=api.submit, parse_submit=api.parse_submit, poll=api.poll,
                          parse_poll=api.parse_poll, map_error=api.map_error)
