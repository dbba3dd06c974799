"""The one error type that crosses every layer: it carries what a client must see."""

from __future__ import annotations

from typing import Any

import attrs

# OpenAI's `error.type` values by status; surfaces with their own envelope map from these.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    501: "not_implemented_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}


def _rebuild(cls: type[GatewayError], fields: dict[str, Any]) -> GatewayError:
    return cls(**fields)


def error_type_for(status: int) -> str:
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "server_error" if status >= 500 else "invalid_request_error"


@attrs.define(eq=False)
class GatewayError(Exception):
    """An error with the status and envelope fields a client gets.

    `retryable` tells routing whether another deployment may be tried; `retry_after`
    (seconds) comes from the vendor when it said how long to wait.
    """

    status: int
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    # Vendor-specific details kept for logs and for surfaces that can show them.
    extra: dict[str, Any] = attrs.field(factory=dict)
    # Response headers the client gets with the error (a vendor's request id, rate-limit state).
    headers: dict[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.type is None:
            self.type = error_type_for(self.status)
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return f"{self.status} {self.type}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # A copy (a task record handed to a poll's joiners) or a pickle carries the fields as
        # they are now: plugins adjust an error after making it (a vendor's code classified, a
        # message extended), and an exception otherwise reduces to its constructor's arguments.
        return _rebuild, (type(self), attrs.asdict(self, recurse=False))

    def envelope(self) -> dict[str, Any]:
        """The OpenAI error envelope."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


# A call whose client left before its answer ended (nginx's 499): so in the usage log and /metrics.
CLIENT_GONE = GatewayError(499, "The client went away before the answer ended.", code="client_closed_request")
