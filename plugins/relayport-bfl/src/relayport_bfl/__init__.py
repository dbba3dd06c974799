"""relayport plugin for Black Forest Labs FLUX: async image tasks polled through `polling_url`."""

from __future__ import annotations

from relayport.accounts.sheet import PriceSheet
from relayport.provider import ProviderSpec
from relayport.tasks.vendor_plugin import TaskVendorPlugin
from relayport_bfl import api

BFL = ProviderSpec(
    name="bfl",
    base_url="https://api.bfl.ai",
    key_env=("BFL_API_KEY",),
    auth="header:x-key",
    model_patterns=("flux-*",),
    capabilities=frozenset({"images"}),
    prices=PriceSheet(__name__),
    description="Black Forest Labs FLUX images",
)

plugin = TaskVendorPlugin(BFL, submit=api.submit, parse_submit=api.parse_submit, poll=api.poll,
                          parse_poll=api.parse_poll, map_error=api.map_error)
