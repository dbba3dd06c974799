"""A fake Qwen-Omni-Realtime endpoint (`/api-ws/v1/realtime`) playing the realtime test `Script`.

It speaks OpenAI's beta event names and flat session config, as DashScope documents, and
refuses the GA-only session fields (`type`, `output_modalities`, `audio`) and tools that are not
in chat-completions form with an `error` event, as DashScope does for invalid parameters.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relayport.testing.realtime import Event, FakeOpenAIRealtime
from relayport_dashscope.realtime import TO_CLIENT

_GA_ONLY = ("type", "output_modalities", "audio")


class FakeDashScopeRealtime(FakeOpenAIRealtime):
    path = "/api-ws/v1/realtime"
    names = {ga: beta for beta, ga in TO_CLIENT.items()}

    def __init__(self, key: str = "sk-fake-dashscope", **kwargs: Any) -> None:
        super().__init__(key, **kwargs)

    @property
    def base_url(self) -> str:
        return self._server.url

    def opening(self, state: dict[str, Any], request: web.Request) -> list[Event]:
        state["session"] = {"object": "realtime.session", "id": "sess_1", "model": request.query.get("model"),
                            "modalities": ["text", "audio"], "voice": "Cherry", "input_audio_format": "pcm",
                            "output_audio_format": "pcm", "turn_detection": {"type": "server_vad"}, "tools": []}
        return [self.event(state, "session.created", session=state["session"])]

    def check_session(self, session: Event) -> str | None:
        for name in _GA_ONLY:
            if name in session:
                return f"Unknown parameter: 'session.{name}'."
        for tool in session.get("tools") or ():
            if "function" not in tool:
                return "Invalid 'session.tools': each tool needs a 'function' object."
        return None
