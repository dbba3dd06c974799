"""`relayport.compat.roles.merge_runs`: what vendors that need alternating roles get."""

from __future__ import annotations

from relayport.compat.roles import ANNOUNCEMENT, merge_runs


def test_runs_of_one_role_are_joined_and_announced() -> None:
    body = {"messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]}
    adjustments: list[str] = []
    merge_runs(body, adjustments)
    assert body["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "a"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": "b\n\nc"},
        {"role": "user", "content": "d"},
    ]
    assert adjustments == [ANNOUNCEMENT]


def test_tool_turns_and_alternating_conversations_are_untouched() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}, {"id": "2"}]},
        {"role": "tool", "tool_call_id": "1", "content": "r1"},
        {"role": "tool", "tool_call_id": "2", "content": "r2"},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "thanks"},
    ]
    body = {"messages": list(messages)}
    adjustments: list[str] = []
    merge_runs(body, adjustments)
    assert body["messages"] == messages and adjustments == []
