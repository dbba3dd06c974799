"""Kimi's official tools (Moonshot's Formula API) behind the gateway key.

Moonshot publishes ready-made tools as formulas (`moonshot/web-search:latest`,
`moonshot/code-runner:latest`, `moonshot/fetch:latest`, `moonshot/date:latest`...). A client
lists a formula's tool declarations, gives them to a Kimi model as ordinary function tools,
and when the model calls one, runs it on Moonshot's side:

    GET  /v1/services/moonshot/formulas/{formula_uri}/tools     -> {"tools": [{"type": "function", ...}]}
    POST /v1/services/moonshot/formulas/{formula_uri}/fibers    {"name": ..., "arguments": "<json>"}
         -> {"id", "status": "succeeded", "context": {"output" | "encrypted_output"}}

These are Moonshot's own paths under the service route (what the aggregators list as
"获取系统工具" and "执行系统工具"), so Moonshot's samples work with the base URL swapped. The key
is the server's: `[services.moonshot] api_key`, else `MOONSHOT_API_KEY`, else the key of a
configured `moonshot` model (with that model's base URL: api.moonshot.ai keys stay there).
"""

from __future__ import annotations

from relayport.webservices import WebService

KIMI_TOOLS = WebService(
    name="moonshot",
    base_url="https://api.moonshot.cn/v1",
    paths=("/formulas/*/tools", "/formulas/*/fibers"),
    key_env=("MOONSHOT_API_KEY",),
    auth="bearer",
    description="Kimi official tools (Moonshot Formula API): list a formula's tools, run them",
    provider="moonshot",
)
