"""relayport plugin for Vidu: text / image / start-end / reference to video tasks, with cancel."""

from __future__ import annotations

from relayport.provider import ProviderSpec
from relayport.tasks.vendor_plugin import TaskVendorPlugin
from relayport_vidu import api

VIDU = ProviderSpec(
    name="vidu",
    base_url="https://api.vidu.com",
    key_env=("VIDU_API_KEY",),
    # Vidu wants `Authorization: Token <key>`, which the plugin writes itself.
    auth="none",
    model_patterns=("vidu*",),
    capabilities=frozenset({"video_generation"}),
    description="Vidu video generation (Token auth)",
)

plugin = TaskVendorPlugin(VIDU, submit=api.submit, parse_submit=api.parse_submit, poll=api.poll,
                          parse_poll=api.parse_poll, cancel=api.cancel, map_error=api.map_error)
