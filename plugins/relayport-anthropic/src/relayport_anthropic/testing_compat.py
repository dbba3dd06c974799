"""Fakes of vendors that serve Anthropic's Messages API beside their OpenAI-compatible one.

One host, two APIs, as at the vendors: `{prefix}/v1/messages` speaks Anthropic (the rules of
`FakeAnthropic` plus the vendor's own, below), and every other path is answered by a
`FakeOpenAI` (the vendor's OpenAI-compatible API, for calls that are translated).

    fake = FakeAnthropicCompat(DEEPSEEK).start()
    # the gateway's deployment: base_url = fake.url (+ the vendor's OpenAI suffix)

The vendors' rules come from their Anthropic-compatibility pages (see `VendorRules`); what
could not be confirmed is said where the rule is.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from relayport.testing.fakes import FakeOpenAI, RecordedRequest, Reply
from relayport_anthropic.testing import FakeAnthropic, Invalid, anthropic_error

_TEXT_BLOCKS = frozenset({"text", "tool_use", "tool_result", "thinking", "redacted_thinking"})


@attrs.define(frozen=True)
class VendorRules:
    """How one vendor's Anthropic endpoint differs from Anthropic's.

    :param prefix: the endpoint's path on the host (`/anthropic`, `/api/anthropic`...).
    :param openai_root: where the vendor's OpenAI-compatible API lives on the same host.
    :param auth: the key header the endpoint takes: "x-api-key", "bearer" or "either".
    :param wrong_auth: the answer to a key in the other header (default: 401).
    :param blocks: content block types it takes; others are refused with 400.
    :param temperature: the (exclusive low, inclusive high) range, where it differs.
    :param count_tokens: it serves `/v1/messages/count_tokens`.
    """

    name: str
    prefix: str
    openai_root: str = "/v1"
    auth: str = "x-api-key"
    wrong_auth: Reply | None = None
    blocks: frozenset[str] = _TEXT_BLOCKS
    temperature: tuple[float, float] | None = None
    count_tokens: bool = False


# DeepSeek's compatibility table: x-api-key fully supported; image/document/search_result "Not
# Supported"; top_k, container, mcp_servers, service_tier ignored; temperature 0..2.
DEEPSEEK = VendorRules("deepseek", "/anthropic", openai_root="")
# BigModel's doc curl sends x-api-key; Claude Code setups send Bearer: both taken.
GLM = VendorRules("glm", "/api/anthropic", openai_root="/api/paas/v4", auth="either")
# Kimi's Claude Code guide sends Bearer (ANTHROPIC_AUTH_TOKEN); x-api-key is unconfirmed, so
# the fake refuses it to prove the gateway sends Bearer.
KIMI = VendorRules("kimi", "/anthropic", auth="bearer")
# Model Studio documents ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN; its curl uses x-api-key.
DASHSCOPE = VendorRules("dashscope", "/apps/anthropic", openai_root="/compatible-mode/v1", auth="either")
# MiniMax: text and tool calls only, temperature in (0, 1]; the mainland host answers
# x-api-key with HTTP 500 "system error (1033)" (MiniMax-AI/cli issue 59) and takes Bearer.
MINIMAX_CN = VendorRules(
    "minimax", "/anthropic", auth="bearer", temperature=(0.0, 1.0),
    wrong_auth=Reply.json({"type": "error", "error": {"type": "api_error", "message": "system error (1033)"}},
                          500),
)


class FakeAnthropicCompat(FakeAnthropic):
    """A vendor host serving both APIs; `last_stream` holds the bytes of the last stream sent."""

    def __init__(self, rules: VendorRules, api_key: str = "sk-vendor-fake", model: str = "vendor-model") -> None:
        super().__init__(api_key=api_key, model=model)
        self.rules = rules
        self.openai = FakeOpenAI(api_key=api_key)
        self.last_stream: bytes = b""

    @property
    def openai_base_url(self) -> str:
        """What the vendor's OpenAI SDK is given (a deployment's `base_url`)."""
        return self.url + self.rules.openai_root

    @property
    def anthropic_base_url(self) -> str:
        """What the vendor tells Anthropic SDK users to set as base_url."""
        return self.url + self.rules.prefix

    def anthropic_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith(self.rules.prefix + "/v1/")]

    def openai_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if not r.path.startswith(self.rules.prefix + "/v1/")]

    async def _answer(self, request: Any, rec: RecordedRequest) -> Any:
        prefix = self.rules.prefix
        if not rec.path.startswith(prefix + "/v1/"):
            return await self.openai._answer(request, rec)
        rec.path = rec.path[len(prefix):]
        try:
            return await super()._answer(request, rec)
        finally:
            rec.path = prefix + rec.path

    def refusal(self, rec: RecordedRequest) -> Reply | None:
        rules = self.rules
        bearer = rec.headers.get("authorization") == f"Bearer {self.api_key}"
        header = rec.headers.get("x-api-key") == self.api_key
        ok = {"x-api-key": header, "bearer": bearer, "either": header or bearer}[rules.auth]
        if not ok:
            if rules.wrong_auth is not None and (header or bearer):
                return rules.wrong_auth
            return anthropic_error(401, "invalid api key")
        if rec.path.endswith("/count_tokens") and not rules.count_tokens:
            return anthropic_error(404, f"Not found: {rules.prefix}{rec.path}")
        if rec.path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return anthropic_error(404, f"Not found: {rules.prefix}{rec.path}")
        return None  # these vendors ignore anthropic-version

    def validate(self, body: Any, counting: bool = False) -> None:
        rules = self.rules
        if isinstance(body, dict):
            for i, m in enumerate(body.get("messages") or ()):
                for j, b in enumerate(m.get("content") if isinstance(m.get("content"), list) else ()):
                    if isinstance(b, dict) and b.get("type") not in rules.blocks:
                        raise Invalid(f"messages.{i}.content.{j}: {b.get('type')} blocks are not supported")
            t = body.get("temperature")
            if rules.temperature is not None and isinstance(t, (int, float)):
                low, high = rules.temperature
                if not low < t <= high:
                    raise Invalid(f"temperature: must be in ({low}, {high}]")
                body = {k: v for k, v in body.items() if k != "temperature"}
        super().validate(body, counting)

    def _stream(self, body: dict[str, Any], turn: dict[str, Any]) -> Reply:
        reply = super()._stream(body, turn)
        self.last_stream = b"".join(reply.events or ())
        return reply


def sent_json(rec: RecordedRequest) -> dict[str, Any]:
    body = orjson.loads(rec.body)
    assert isinstance(body, dict)
    return body
