"""Constants and helpers the Kimi tests share (no conftest.py: a second `conftest`
module would shadow the one other plugins' tests import by that name; fixtures live in the test module)."""

from __future__ import annotations

from typing import Any

from relayport.testing.servers import GatewayHandle, start_gateway

GATEWAY_KEY = "sk-gateway-kimi-tests"
VENDOR_KEY = "sk-moonshot-vendor-SECRET"
# gateway model name -> Kimi model id
MODELS = {"kimi": "kimi-k2.6", "kimi-k2.6": "kimi-k2.6", "kimi-thinking": "kimi-k2-thinking",
          "moonshot-8k": "moonshot-v1-8k", "moonshot-vision": "moonshot-v1-8k-vision-preview"}


def start_gateway_for(models: list[dict[str, Any]]) -> GatewayHandle:
    return start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                          "models": models}, env={})
