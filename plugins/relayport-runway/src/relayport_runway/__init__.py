"""relayport plugin for Runway: image_to_video / text_to_video / text_to_image tasks, with cancel."""

from __future__ import annotations

from relayport.accounts.sheet import PriceSheet
from relayport.provider import ProviderSpec
from relayport.tasks.vendor_plugin import TaskVendorPlugin
from relayport_runway import api

RUNWAY = ProviderSpec(
    name="runway",
    base_url="https://api.dev.runwayml.com",
    key_env=("RUNWAYML_API_SECRET", "RUNWAY_API_KEY"),  # the official SDK's variable first
    auth="bearer",
    model_patterns=("gen3a_*", "gen4*", "runway-*"),
    capabilities=frozenset({"video_generation", "images"}),
    prices=PriceSheet(__name__),
    description="Runway video and image generation (X-Runway-Version)",
)

plugin = TaskVendorPlugin(RUNWAY, submit=api.submit, parse_submit=api.parse_submit, poll=api.poll,
                          parse_poll=api.parse_poll, cancel=api.cancel, map_error=api.map_error)
