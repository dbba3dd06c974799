"""Logging for `relayport serve`: one line per call without a write syscall per call.

A StreamHandler flushes after every record; at thousands of calls a second that flush is a
measurable share of each call. Here records collect in memory and a background thread
writes them out every quarter second; warnings and errors are written at once.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

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


class DeferredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, target: TextIO | None = None) -> None:
        self.deferred = _DeferredStream(target or sys.stderr)
        super().__init__(self.deferred)

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


def setup_logging(level: str) -> DeferredHandler:
    handler = DeferredHandler()
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
