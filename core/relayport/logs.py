"""Logging for `relayport serve`: one line per call without a write syscall per call.

A StreamHandler flushes after every record; at thousands of calls a second that flush is a
measurable share of each call. Here records collect in memory and a background thread
writes them out every quarter second; warnings and errors are written at once.

`[server] log_format = "json"` writes one JSON object per line instead (for log shippers):
`time` (UTC, ISO 8601), `level`, `logger`, `message`, `request_id`, and for the per-call
line its `key=value` fields as fields of their own.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import orjson

FLUSH_INTERVAL = 0.25

# The id of the call being served (the client's `x-request-id`, or the gateway's own), set by the
# server middleware so that every log line of the call can name it.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("relayport_request_id", default="-")
_MAX_BUFFER = 256 * 1024


class _DeferredStream(io.TextIOBase):
    """Collects writes; `flush()` is a no-op so the handler's per-record flush costs nothing."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size > _MAX_BUFFER:
            self.drain()
        return len(text)

    def flush(self) -> None:
        pass

    def drain(self) -> None:
        if self._parts:
            data, self._parts, self._size = "".join(self._parts), [], 0
            self.target.write(data)
            self.target.flush()


def _utc(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; an exception's traceback goes in `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": _utc(record.created), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        rid = request_id.get()
        if rid != "-":
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def _call_fields(message: str) -> dict[str, Any]:
    """The per-call line's `key=value` words as JSON fields ("-" is null, counts are numbers)."""
    out: dict[str, Any] = {}
    for word in message.split(" "):
        key, sep, value = word.partition("=")
        if not sep:
            continue
        if key == "id":
            key = "request_id"
        if value == "-":
            out[key] = None
        elif value.isdigit():
            out[key] = int(value)
        elif key == "ms":
            out[key] = float(value)
        else:
            out[key] = value
    return out


class DeferredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, target: TextIO | None = None, json: bool = False) -> None:
        self.deferred = _DeferredStream(target or sys.stderr)
        self.json = json
        super().__init__(self.deferred)
        if json:
            self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if record.levelno >= logging.WARNING:
            self.deferred.drain()

    def drain(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.deferred.drain()

    def fast_info(self, name: str) -> Callable[[str], None]:
        """A writer of INFO lines for logger `name` that skips LogRecord and Formatter.

        The per-call line is the one log line written at the request rate; building a
        LogRecord, formatting its time and taking the logging locks cost more than the
        line itself. Lines look exactly like the formatter's.
        """
        write = self.deferred.write
        lock = self.lock
        if self.json:
            head = {"level": "INFO", "logger": name}

            def info_json(message: str) -> None:
                line = orjson.dumps({"time": _utc(time.time()), **head, "message": message,
                                     **_call_fields(message)}).decode() + "\n"
                with lock:  # type: ignore[union-attr]
                    write(line)

            return info_json
        stamp: list[object] = [0, ""]
        suffix = f" INFO {name}: "

        def info(message: str) -> None:
            now = time.time()
            second = int(now)
            if stamp[0] != second:
                stamp[0], stamp[1] = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            line = f"{stamp[1]},{int((now - second) * 1000):03d}{suffix}{message}\n"
            with lock:  # type: ignore[union-attr]
                write(line)

        return info

    def close(self) -> None:
        self.drain()
        super().close()


def setup_logging(level: str, format: str = "text", target: TextIO | None = None) -> DeferredHandler:
    handler = DeferredHandler(target, json=format == "json")
    if format != "json":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    stop = threading.Event()

    def pump() -> None:
        while not stop.wait(FLUSH_INTERVAL):
            handler.drain()
        handler.drain()

    threading.Thread(target=pump, name="relayport-log-flush", daemon=True).start()
    import atexit

    def shutdown() -> None:
        stop.set()
        handler.drain()

    atexit.register(shutdown)
    return handler
