"""Starting, pinning, probing and stopping the processes of a bench run.

Each child gets its own session (process group) so that stopping it also
stops anything it forked (a gateway with workers, a shell wrapper...).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# CPUs this process may use, read at import time (before run.py pins itself):
# in a container they need not be numbered from 0.
ALLOWED_CPUS: list[int] = sorted(os.sched_getaffinity(0))


def pin_prefix(cpu: int | None) -> list[str]:
    """`taskset -c N` when pinning is asked for and possible, else nothing.

    taskset execs the command, so the pid we get is the real server's pid.
    """
    if cpu is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    started_at: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcGroup:
    """Owns every process of the run; stop_all() is safe to call twice."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: list[str],
        cpu: int | None,
        env: dict[str, str] | None = None,
    ) -> Proc:
        full = pin_prefix(cpu) + argv
        log_path = self.log_dir / f"{name}.log"
        # The child keeps its own copy of the descriptor; ours can close.
        with open(log_path, "wb") as log:
            t0 = time.perf_counter()
            popen = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        proc = Proc(name, full, log_path, popen, t0)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, grace: float = 5.0) -> None:
        """Stop `proc` (and its process group); the group no longer holds it."""
        if proc in self.procs:
            self.procs.remove(proc)
        pid = proc.pid
        if proc.popen.returncode is None:
            # Not reaped yet, so the group id is still ours: SIGTERM the group,
            # wait for the leader without reaping it, then SIGKILL whatever is
            # left in the group (workers, or a leader that ignored SIGTERM).
            _killpg(pid, signal.SIGTERM)
            _wait_exited(pid, grace)
            _killpg(pid, signal.SIGKILL)
        else:
            # Leader already reaped: its id may not be reusable as a group
            # handle any more, so kill only the processes still in its session.
            for member in _session_members(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(member, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=grace)

    def stop_all(self) -> None:
        while self.procs:
            self.stop(self.procs.pop())


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_exited(pid: int, timeout: float) -> None:
    """Wait until pid has exited, leaving it a zombie (not reaped)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


def _proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, stat fields after the command name) for every process still there."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces: split after its ')'.
        yield int(entry.name), stat[stat.rfind(")") + 2 :].split()


def _session_members(sid: int) -> list[int]:
    # fields[3] is field 6 of stat: the session id
    return [pid for pid, fields in _proc_stats() if int(fields[3]) == sid]


def http_get_status(host: str, port: int, path: str, timeout: float = 1.0) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


class NotReady(RuntimeError):
    pass


def wait_ready(proc: Proc, port: int, path: str = "/healthz", timeout: float = 20.0) -> float:
    """Poll GET path until 200; seconds from spawn to ready.

    Polls every 5 ms so that the measured start time is not rounded up by the
    poll interval.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not proc.alive():
            raise NotReady(
                f"{proc.name} exited with code {proc.popen.returncode} before "
                f"answering {path}; log tail:\n{proc.log_tail()}"
            )
        if http_get_status("127.0.0.1", port, path, timeout=0.5) == 200:
            return time.perf_counter() - proc.started_at
        time.sleep(0.005)
    raise NotReady(
        f"{proc.name} did not answer 200 on {path} within {timeout:.0f} s; log tail:\n{proc.log_tail()}"
    )


def rss_mb(pid: int) -> float | None:
    """VmRSS of pid plus its descendants (a gateway might fork workers), MB."""
    total_kb = 0
    found = False
    for p in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    found = True
                    break
        except OSError:
            continue
    return total_kb / 1024.0 if found else None


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, fields in _proc_stats():
        children.setdefault(int(fields[1]), []).append(child)
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


# --------------------------------------------------------------------------
# Interference: this machine may be shared (other builds, tests). What the
# measured core spent on anything but the server under test is reported as
# "noise" so that a bad ratio can be told apart from a busy machine.
# --------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_busy_ticks(cpu: int) -> int:
    """Non-idle ticks of one core since boot (user..steal, idle/iowait out)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            f = [int(x) for x in line.split()[1:]]
            # user nice system idle iowait irq softirq steal ...
            return f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)
    return 0


def proc_ticks(pid: int) -> int:
    """utime + stime of pid and its descendants."""
    return sum(proc_times(pid))


def proc_times(pid: int) -> tuple[int, int]:
    """(utime, stime) of pid and its descendants, in clock ticks."""
    user = kernel = 0
    for p in [pid, *_descendants(pid)]:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        user += int(fields[11])  # fields 14 and 15 of stat
        kernel += int(fields[12])
    return user, kernel


def _own_cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (wrk runs are
    reaped by subprocess.run, so a delta around one covers that wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class NoiseProbe:
    """Share of a core's time used by processes that are not ours.

    Our processes are pinned, so each core's expected load is known: the
    servers under test on `server_cpu`; the mock, wrk and this script on
    `load_cpu`. Whatever else ran there (builds, tests of a shared machine,
    kernel threads) is noise; a busy load core slows wrk and the mock and so
    lowers whichever target is measured at the time.
    """

    server_cpu: int
    server_pids: tuple[int, ...]
    load_cpu: int | None = None
    load_pids: tuple[int, ...] = ()
    _t0: float = 0.0
    _busy0: dict[int, int] = field(default_factory=dict)
    _srv0: int = 0
    _load0: int = 0
    _own0: float = 0.0

    def _cpus(self) -> list[int]:
        return [self.server_cpu] + ([self.load_cpu] if self.load_cpu is not None else [])

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._busy0 = {c: cpu_busy_ticks(c) for c in self._cpus()}
        self._srv0 = sum(proc_ticks(p) for p in self.server_pids)
        self._load0 = sum(proc_ticks(p) for p in self.load_pids)
        self._own0 = _own_cpu_seconds()

    def stop(self) -> float:
        """Percent of wall time the noisier of the two cores spent on others."""
        elapsed = time.perf_counter() - self._t0
        if elapsed <= 0:
            return 0.0
        srv = sum(proc_ticks(p) for p in self.server_pids) - self._srv0
        foreign = [(cpu_busy_ticks(self.server_cpu) - self._busy0[self.server_cpu] - srv) / CLK_TCK]
        if self.load_cpu is not None:
            load = sum(proc_ticks(p) for p in self.load_pids) - self._load0
            own = _own_cpu_seconds() - self._own0
            busy = cpu_busy_ticks(self.load_cpu) - self._busy0[self.load_cpu]
            foreign.append((busy - load) / CLK_TCK - own)
        return max(0.0, max(foreign) / elapsed * 100.0)
