"""Test kit for relayport and its plugins: servers in threads, fake vendors, a conformance suite.

Installed as a pytest plugin (entry point `pytest11: relayport`) with `pip install relayport[testing]`.
"""

from relayport.testing.fakes import FakeOpenAI, FakeUpstream, RecordedRequest, Reply
from relayport.testing.servers import GatewayHandle, ServerThread, start_gateway
from relayport.testing.waiting import wait_for

__all__ = [
    "FakeOpenAI",
    "FakeUpstream",
    "GatewayHandle",
    "RecordedRequest",
    "Reply",
    "ServerThread",
    "start_gateway",
    "wait_for",
]
