"""Running a managed HAProxy: start in master-worker mode, validate, reload hitlessly, stop by pid."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sslterm.errors import ProviderError
from sslterm.providers.haproxy.runtime import RuntimeAPI

_MASTER = re.compile(r"^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]", re.MULTILINE)


@dataclass(frozen=True)
class MasterState:
    pid: int
    reloads: int
    failed: int


def check_config(binary: str, config: Path) -> None:
    """``haproxy -c``: a configuration that fails it is never put live."""
    try:
        done = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, timeout=300,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProviderError(f"cannot run {binary} -c: {exc}", code="haproxy-check") from exc
    if done.returncode != 0:
        alerts = [ln for ln in (done.stdout + done.stderr).decode(errors="replace").splitlines() if "ALERT" in ln]
        raise ProviderError("HAProxy refused the new configuration: " + (alerts[0] if alerts else "haproxy -c failed"),
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

    def __init__(self, binary: str, config: Path, pid_file: Path, master_socket: Path, admin_socket: Path) -> None:
        self.binary = binary
        self.config = config
        self.pid_file = pid_file
        self.master = RuntimeAPI(master_socket)
        self.admin_socket = admin_socket

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
        command = [self.binary, "-W", "-D", "-f", str(self.config), "-p", str(self.pid_file),
                   "-S", str(self.master.path)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=wait, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProviderError(f"cannot start HAProxy: {exc}", code="haproxy-start") from exc
        if done.returncode != 0:
            alerts = [ln for ln in done.stderr.decode(errors="replace").splitlines() if "ALERT" in ln]
            raise ProviderError("HAProxy did not start: " + (alerts[0] if alerts else f"exit {done.returncode}"),
                                code="haproxy-start")
        self._wait_for_worker(wait)

    def _wait_for_worker(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ProviderError):
                if "Pid:" in RuntimeAPI(self.admin_socket, timeout=2).command("show info"):
                    return
            time.sleep(0.05)
        raise ProviderError("HAProxy started but its runtime API did not answer", code="haproxy-start")

    def master_state(self) -> MasterState:
        match = _MASTER.search(self.master.command("show proc"))
        if not match:
            raise ProviderError("HAProxy master CLI gave no process list", code="haproxy-master")
        return MasterState(int(match.group(1)), int(match.group(2)), int(match.group(3)))

    def reload(self, wait: float = 120.0) -> None:
        """Hitless reload (2.6+: listening sockets passed to the new worker); returns once the new worker
        serves. A configuration that fails to load leaves the old worker serving and raises."""
        before = self.master_state()
        self.master.command("reload")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                now = self.master_state()
            except ProviderError:  # the master re-executes itself: its CLI is briefly away
                continue
            if now.failed > before.failed:
                raise ProviderError("HAProxy could not load the new configuration; the old one still serves",
                                    code="haproxy-reload-failed")
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
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
