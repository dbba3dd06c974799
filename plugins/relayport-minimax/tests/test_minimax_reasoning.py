"""The reasoning splitters on their own: every way a stream can cut MiniMax's text."""

from __future__ import annotations

import pytest

from relayport_minimax.reasoning import DetailsText, ThinkSplitter, split_think

WHOLE = "<think>\nStep one.\nStep </think> two? no: two.\n</think>\n\n**Answer**: 42\n"


def _feed_in_pieces(text: str, size: int) -> tuple[str, str]:
    splitter = ThinkSplitter()
    reasoning = content = ""
    for i in range(0, len(text), size):
        r, c = splitter.feed(text[i:i + size])
        reasoning += r
        content += c
    r, c = splitter.flush()
    return reasoning + r, content + c


@pytest.mark.parametrize("size", range(1, 12))
def test_tags_cut_anywhere(size):
    text = "<think>\nThe user greets me.\n</think>\n\nHello!"
    assert _feed_in_pieces(text, size) == ("The user greets me.", "Hello!")


@pytest.mark.parametrize("size", [1, 3, 8])
def test_answer_without_a_block_passes_unchanged(size):
    assert _feed_in_pieces("  a <b> c </think>", size) == ("", "  a <b> c </think>")


def test_reasoning_cut_off_by_the_length_limit_stays_reasoning():
    assert _feed_in_pieces("<think>\nstill thinking </thi", 4) == ("still thinking </thi", "")
    assert split_think("<think>\nunfinished") == ("unfinished", "")


def test_only_the_first_close_ends_the_block():
    reasoning, content = split_think(WHOLE)
    assert reasoning == "Step one.\nStep "
    assert content.startswith(" two? no")


def test_details_cumulative_incremental_and_mixed():
    cumulative, incremental = DetailsText(), DetailsText()
    assert [cumulative.take([{"text": t}]) for t in ("The", "The user", "The user asks")] == ["The", " user", " asks"]
    assert [incremental.take([{"text": t}]) for t in ("The", " user", " asks")] == ["The", " user", " asks"]
    assert DetailsText().take([{"text": "a"}, {"text": "b"}]) == "ab"
    assert DetailsText().take("not a list") == ""
