"""The conformance suite catches the bugs plugin authors make (issue 8, point 8): each bug
planted in tests/buggy_plugin.py makes the suite fail, at the check meant for it, and the same
plugin without a bug passes the whole suite."""

from __future__ import annotations

import pytest

from tests import buggy_plugin

pytest_plugins = ["pytester"]

SUITE = '''
from relayport.testing.conformance import ProviderConformance
from relayport.testing.fakes import FakeOpenAI
from tests import buggy_plugin


class TestBuggyConformance(ProviderConformance):
    provider = "buggy"
    entry_point = "buggy"
    model = "buggy-1"
    extra_plugins = {"buggy": buggy_plugin}

    def make_fake(self):
        return FakeOpenAI()
'''

# bug -> the checks that must fail for it
CAUGHT_BY = {
    "length_as_stop": ["test_finish_reasons_keep_their_meaning[length]"],
    "truncation": ["test_long_answer_arrives_whole"],
    "developer_dropped": ["test_request_reaches_the_vendor"],
    "top_p_dropped": ["test_request_reaches_the_vendor"],
    "reasoning_dropped": ["test_reasoning_reaches_the_client"],
    "error_ignored": ["test_broken_stream_ends_in_an_error[error_after]"],
}


def _run(pytester: pytest.Pytester, bug: str | None, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_buggy_conformance=SUITE)
    buggy_plugin.BUG = bug
    try:
        return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)
    finally:
        buggy_plugin.BUG = None


def test_the_correct_plugin_passes_the_whole_suite(pytester: pytest.Pytester) -> None:
    result = _run(pytester, None)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 19
    # The only skip: the entry point it does not have (it is loaded from the test).
    assert outcomes.get("skipped", 0) == 1, result.stdout.str()[-3000:]
    # It declares tools and thinking but not vision: the image check is not collected for it,
    # the tool and reasoning checks are (and pass).
    assert outcomes.get("deselected") == 1, result.stdout.str()[-3000:]
    listed = _run(pytester, None, "--collect-only").stdout.str()
    assert "test_image_input_reaches_the_vendor" not in listed
    assert "test_tool_call_round_trip" in listed and "test_reasoning_reaches_the_client" in listed


@pytest.mark.parametrize("bug", sorted(CAUGHT_BY))
def test_each_planted_bug_fails_its_check(pytester: pytest.Pytester, bug: str) -> None:
    assert bug in buggy_plugin.BUGS
    names = CAUGHT_BY[bug]
    selector = " or ".join(n.split("[")[0] for n in names)
    result = _run(pytester, bug, "-k", selector, "-rf")
    out = result.stdout.str()
    assert result.ret != 0, out[-3000:]
    for name in names:
        assert f"FAILED test_buggy_conformance.py::TestBuggyConformance::{name}" in out, out[-3000:]


def test_the_kit_sets_pytest_asyncios_loop_scope(pytester: pytest.Pytester) -> None:
    """A plugin project without pytest settings of its own runs without pytest-asyncio's
    deprecation warning; a project that sets the scope keeps its own."""
    pytester.makepyfile(test_quiet="def test_loop():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-W", "error::DeprecationWarning")
    assert result.ret == 0, result.stdout.str()
    assert "asyncio_default_fixture_loop_scope" not in result.stdout.str()
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = module\n")
    pytester.makeconftest("def pytest_sessionstart(session):\n"
                          "    print('scope:', session.config.getini('asyncio_default_fixture_loop_scope'))\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-s")
    assert "scope: module" in result.stdout.str()
