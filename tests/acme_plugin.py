"""Issue 8's "Acme" vendor as a plugin author writes it: OpenAI-compatible, reasoning in a field
named `reasoning`, usage inside the last choice of a stream. Only documented names imported."""

from __future__ import annotations

from collections.abc import Callable

from relayport import hookimpl
from relayport.openai_compat import OpenAICompat
from relayport.provider import ProviderSpec

ACME = ProviderSpec(
    name="acme",
    base_url="https://api.acme.example/v1",
    key_env=("ACME_API_KEY",),
    capabilities=frozenset({"chat", "stream", "thinking"}),
    openai_compat=OpenAICompat(reasoning_field="reasoning", usage_in_choices=True),
    description="Acme chat (test plugin)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ACME)
