"""A `GatewayError` copied or pickled keeps the fields it has now. Plugins adjust an error after
making it (DashScope classifies a vendor code as `content_filter`); a poll's joiners get a
deep copy of the task record, and used to see the error as first constructed."""

from __future__ import annotations

import copy
import pickle

import pytest

from relayport.model.errors import GatewayError


@pytest.mark.parametrize("duplicate", [copy.deepcopy, copy.copy, lambda e: pickle.loads(pickle.dumps(e))])
def test_an_adjusted_error_survives_a_copy(duplicate) -> None:
    err = GatewayError(422, "dashscope: Output data may contain inappropriate content.", code="DataInspectionFailed",
                       headers={"x-request-id": "r1"})
    err.status, err.code, err.type = 400, "content_filter", "invalid_request_error"
    err.message += " (blocked by DashScope's content inspection)"
    err.retry_after = 2.5

    got = duplicate(err)

    assert (got.status, got.code, got.type, got.retry_after) == (400, "content_filter", "invalid_request_error", 2.5)
    assert got.message.endswith("(blocked by DashScope's content inspection)")
    assert got.headers == {"x-request-id": "r1"}
    assert got.envelope() == err.envelope()
