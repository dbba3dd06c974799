"""A key's in-process rate windows: what they let in, when a unit leaves, what a 429 says."""

from __future__ import annotations

import pytest

from relayport.accounts.limits import Rates
from relayport.model.errors import GatewayError


def refused(rates: Rates, now: float, rpm: int | None = None, tpm: int | None = None) -> GatewayError:
    with pytest.raises(GatewayError) as exc:
        rates.admit(now, rpm, tpm, "app")
    return exc.value


def test_a_request_counts_until_a_minute_after_the_end_of_its_second() -> None:
    rates = Rates()
    rates.admit(100.2, 2, None, "app")
    rates.admit(100.9, 2, None, "app")
    err = refused(rates, 159.99, rpm=2)  # both still in the window (their second ends at 101)
    assert err.status == 429 and err.code == "rate_limit_exceeded"
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.retry_after == pytest.approx(1.01) and err.headers["x-ratelimit-reset-requests"] == "2s"
    assert rates.used(159.99) == (2, 0)  # a refused request is not counted
    assert rates.used(161.0) == (0, 0)  # 101 + 60: gone, whatever the fraction of a second
    rates.admit(161.0, 2, None, "app")


def test_the_window_slides_second_by_second() -> None:
    rates = Rates()
    for t in (10.5, 20.5, 30.5):
        rates.admit(t, 3, None, "app")
    assert rates.used(70.999) == (3, 0)
    assert rates.used(71.0) == (2, 0)  # the one of second 10 (ending at 11) left at 71
    assert rates.used(81.0) == (1, 0)
    # Checked again within the same second, the totals are the same (no early expiry).
    assert rates.used(81.999) == (1, 0)
    assert rates.used(91.0) == (0, 0)
    assert len(rates.buckets) <= 61


def test_reset_says_when_enough_has_left_for_one_more() -> None:
    rates = Rates()
    rates.admit(0.5, 3, None, "app")     # bucket ends at 1: leaves at 61
    rates.admit(5.5, 3, None, "app")     # ends at 6: leaves at 66
    rates.admit(5.7, 3, None, "app")
    err = refused(rates, 30.0, rpm=3)
    assert err.retry_after == pytest.approx(31.0)  # at 61 the first leaves
    assert err.headers["x-ratelimit-reset-requests"] == "31s" and err.headers["Retry-After"] == "31"
    err = refused(rates, 30.0, rpm=2)  # two must leave: both of second 5 go at 66 (the one of 0 first)
    assert err.retry_after == pytest.approx(36.0)


def test_tokens_are_checked_before_requests_and_counted_when_spent() -> None:
    rates = Rates()
    rates.admit(1.0, 10, 100, "app")
    rates.add_tokens(1.5, 60)
    rates.admit(2.0, 10, 100, "app")  # 60 < 100: in
    rates.add_tokens(2.5, 50)         # a call in flight may overshoot: its tokens are known after it
    err = refused(rates, 3.0, rpm=10, tpm=100)
    assert err.type == "tokens" and "used 110" in err.message
    assert err.headers["x-ratelimit-limit-tokens"] == "100" and err.headers["x-ratelimit-remaining-tokens"] == "0"
    assert rates.used(3.0) == (2, 110)  # the refused request counted nowhere
    assert err.retry_after == pytest.approx(59.0)  # the first second's 60 tokens leave at 62: 110 - 60 < 100
    assert rates.used(62.0) == (1, 50)
    rates.admit(62.0, 10, 100, "app")


def test_no_limit_counts_nothing_it_does_not_need() -> None:
    rates = Rates()
    for i in range(1000):
        rates.admit(i / 100, None, None, "app")
    assert rates.used(10.0) == (0, 0)
