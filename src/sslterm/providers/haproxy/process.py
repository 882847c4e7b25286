"""Running a managed HAProxy: start in master-worker mode, validate, reload hitlessly, stop by pid.

Every HAProxy is started through :mod:`sslterm.childenv` (the minimal environment: no secret of sslterm's
reaches HAProxy's ``show env``). The master runs in the foreground of a session of its own, its stdout and
stderr appended to ``haproxy.log`` beside its pid file, rather than daemonised with ``-D``: a daemonised
master points its stderr at /dev/null, and HAProxy 2.6's master CLI has no ``show startup-logs`` (2.7+), so
the reason a reload failed (``cannot bind socket (Address already in use)``) would be lost. From the log,
the first ``[ALERT]`` line is quoted in the error.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from sslterm import childenv
from sslterm.errors import ProviderError
from sslterm.providers.haproxy.runtime import RuntimeAPI
from sslterm.text import one_line

_MASTER = re.compile(r"^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)
_ALERT_PREFIX = re.compile(r"^\s*\[ALERT\]\s*(?:\(\d+\)\s*)?:\s*")
#: the log is emptied before a reload once it is this large (it only serves to explain the last failure)
MAX_LOG_BYTES = 1 << 20
#: an alert quoted in a message is cut to this many characters
MAX_ALERT_CHARS = 400


@dataclass(frozen=True)
class MasterState:
    pid: int
    reloads: int
    failed: int


def first_alert(output: str) -> str | None:
    """The first ``[ALERT]`` line of HAProxy's output, without its ``[ALERT] (pid) :`` prefix, quoted safely
    (:func:`one_line`); None when there is none."""
    for line in output.splitlines():
        if "[ALERT]" in line:
            return one_line(_ALERT_PREFIX.sub("", line).strip(), MAX_ALERT_CHARS)
    return None


def check_config(binary: str, config: Path) -> None:
    """``haproxy -c``: a configuration that fails it is never put live."""
    try:
        done = childenv.run([binary, "-c", "-f", str(config)], timeout=300)
    except OSError as exc:
        raise ProviderError(f"cannot run {binary} -c: {exc}", code="haproxy-check") from exc
    if done.returncode != 0:
        alert = first_alert((done.stdout + done.stderr).decode(errors="replace"))
        raise ProviderError("HAProxy refused the new configuration: " + (alert or "haproxy -c failed"),
                            code="haproxy-invalid-config")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting for init to reap it has stopped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Process:
    """One master-worker HAProxy that sslterm started, known by its pid file."""

    def __init__(self, binary: str, config: Path, pid_file: Path, master_socket: Path, admin_socket: Path,
                 log_file: Path | None = None) -> None:
        self.binary = binary
        self.config = config
        self.pid_file = pid_file
        self.master = RuntimeAPI(master_socket)
        self.admin_socket = admin_socket
        #: the master's stdout and stderr: why a start or a reload failed
        self.log_file = log_file or pid_file.with_name("haproxy.log")

    def pid(self) -> int | None:
        """The master's pid, if it is alive and is our HAProxy (its command line names our config)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.config).encode() in cmdline else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, wait: float = 30.0) -> None:
        """Start the master (in the foreground of its own session, see the module's docstring) and return
        once a worker answers on the runtime API; raise with HAProxy's first alert if it exits instead."""
        command = [self.binary, "-W", "-f", str(self.config), "-p", str(self.pid_file), "-S", str(self.master.path)]
        try:
            fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as log:  # the child keeps its own copy of the descriptor
                child = childenv.spawn(command, output=log)
        except OSError as exc:
            raise ProviderError(f"cannot start HAProxy: {exc}", code="haproxy-start") from exc
        self._wait_for_worker(wait, child)

    def _wait_for_worker(self, wait: float, child: childenv.Child | None = None) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                raise ProviderError("HAProxy did not start: " + (self._alert_since(0) or f"exit {child.returncode}"),
                                    code="haproxy-start")
            with contextlib.suppress(ProviderError):
                if "Pid:" in RuntimeAPI(self.admin_socket, timeout=2).command("show info"):
                    return
            time.sleep(0.05)
        raise ProviderError("HAProxy started but its runtime API did not answer", code="haproxy-start")

    def _log_mark(self) -> int:
        """Where the log ends now (emptied first when large; the master appends, so that is safe)."""
        try:
            size = self.log_file.stat().st_size
            if size > MAX_LOG_BYTES:
                os.truncate(self.log_file, 0)
                return 0
            return size
        except OSError:
            return 0

    def _alert_since(self, mark: int) -> str | None:
        """The first alert HAProxy logged after ``mark`` (None: no log, as for an attached HAProxy)."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(mark)
                return first_alert(log.read(MAX_LOG_BYTES).decode(errors="replace"))
        except OSError:
            return None

    def master_state(self) -> MasterState:
        match = _MASTER.search(self.master.command("show proc"))
        if not match:
            raise ProviderError("HAProxy master CLI gave no process list", code="haproxy-master")
        return MasterState(int(match.group(1)), int(match.group(2)), int(match.group(3)))

    def reload(self, wait: float = 120.0) -> None:
        """Hitless reload (2.6+: listening sockets passed to the new worker); returns once the new worker
        serves. A configuration that fails to load leaves the old worker serving and raises, quoting why."""
        before = self.master_state()
        mark = self._log_mark()
        with contextlib.suppress(ProviderError):  # the master re-executes itself and may drop the connection
            self.master.command("reload")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                now = self.master_state()
            except ProviderError:  # the master re-executes itself: its CLI is briefly away
                continue
            if now.failed > before.failed:
                alert = self._alert_since(mark)
                raise ProviderError("HAProxy could not load the new configuration; the old one still serves"
                                    + (f": {alert}" if alert else ""), code="haproxy-reload-failed")
            if now.reloads > before.reloads:
                self._wait_for_worker(wait)
                return
        raise ProviderError("HAProxy did not finish reloading in time", code="haproxy-reload-timeout")

    def stop(self, wait: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):  # SIGKILL only if it ignored SIGTERM for `wait` s
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if not _alive(pid):
                break
        else:
            raise ProviderError(f"HAProxy (pid {pid}) did not stop", code="haproxy-stop")
        childenv.reap()  # started by this process (a long-running sslterm): no zombie left
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
