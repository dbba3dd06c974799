"""Constants and helpers the GLM tests share (no conftest.py: a second `conftest`
module would shadow the one other plugins' tests import by that name; fixtures live in the test module)."""

from __future__ import annotations

from typing import Any

from relayport.testing.servers import GatewayHandle, start_gateway

GATEWAY_KEY = "sk-gateway-glm-tests"
VENDOR_KEY = "zhipu-vendor-key.SECRET"
# gateway model name -> GLM model id
MODELS = {"glm": "glm-4.6", "glm-5.1": "glm-5.1", "glm-5v-turbo": "glm-5v-turbo", "glm-old": "glm-4-plus"}


def start_gateway_for(models: list[dict[str, Any]]) -> GatewayHandle:
    return start_gateway({"server": {"state_path": ":memory:"}, "auth": {"keys": [GATEWAY_KEY]},
                          "models": models}, env={})
