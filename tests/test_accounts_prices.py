"""Prices and the cost of a call: exact amounts, fallbacks between price fields, config errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from relayport.accounts.limits import duration
from relayport.accounts.money import from_units, to_units
from relayport.accounts.prices import MediaUnits, Price, cost_units
from relayport.config import ConfigError, parse_config
from relayport.model.usage import Usage


def cost(price: dict, usage: Usage | None, media: MediaUnits | None = None) -> Decimal:
    return from_units(cost_units(Price.parse(price, "price"), usage, media))


def test_cached_cache_write_and_reasoning_tokens_have_their_own_prices() -> None:
    price = {"input": 3, "output": 15, "cached_input": 0.3, "cache_write": 3.75, "reasoning": 20}
    usage = Usage(input_tokens=1170, output_tokens=530, cached_tokens=1000, cache_write_tokens=20,
                  reasoning_tokens=30)
    # 150 x 3 + 1000 x 0.3 + 20 x 3.75 + 500 x 15 + 30 x 20 = 450 + 300 + 75 + 7500 + 600 per million
    assert cost(price, usage) == Decimal("0.008925")


def test_missing_prices_fall_back_to_input_and_output() -> None:
    usage = Usage(input_tokens=1000, output_tokens=100, cached_tokens=400, cache_write_tokens=100,
                  reasoning_tokens=60)
    assert cost({"input": 0.15, "output": 0.6}, usage) == Decimal("0.00021")  # (1000 x .15 + 100 x .6) / 1e6


def test_amounts_add_up_without_float_drift() -> None:
    one = cost_units(Price.parse({"input": 0.1, "output": 0.2}, "p"), Usage(1, 1))
    assert from_units(one * 10) == Decimal("0.000003")  # 0.1 + 0.2 in floats would not be 0.3
    assert to_units(0.1) + to_units(0.2) == to_units("0.3")


def test_media_units() -> None:
    price = {"image": 0.04, "video_second": 0.5, "speech_1k_chars": 0.015}
    media = MediaUnits(images=3, video_seconds=Decimal("5.5"), speech_chars=2500)
    assert cost(price, None, media) == Decimal("0.12") + Decimal("2.75") + Decimal("0.0375")


def test_no_usage_costs_nothing() -> None:
    assert cost({"input": 1, "output": 1}, None) == 0


@pytest.mark.parametrize("price, message", [
    ({"inputs": 1}, "unknown price key"),
    ({"input": -1}, "must not be negative"),
    ({"input": "cheap"}, r"expected float @ \$.models\[0\].price"),
])
def test_bad_prices_are_config_errors(price, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"models": [{"name": "m", "provider": "openai", "price": price}]})


def test_reset_durations_are_spelled_like_openai() -> None:
    assert [duration(s) for s in (0.02, 1, 1.2, 60, 360.5)] == ["20ms", "1s", "2s", "1m0s", "6m1s"]
