"""Shared pieces of the HAProxy benchmarks (issue 3): machine facts, free ports on 127.0.0.1, a demo
backend in its own process, the HAProxy processes of one load balancer (found by their command line,
which names the load balancer's private directory), RSS and CPU sampling from /proc, certificate slots.

Every process a benchmark starts is stopped by its pid: HAProxy through its master's pid file
(``HAProxyProvider.stop``), anything left over (there should be none) by the pids found here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
HAPROXY = os.environ.get("SSLTERM_HAPROXY", "/usr/sbin/haproxy")
LOCALHOST = "127.0.0.1"


# -- facts ---------------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    vv = subprocess.run([HAPROXY, "-vv"], capture_output=True, text=True, check=False).stdout.splitlines()
    haproxy = vv[0].split(" - ")[0].replace("HAProxy version ", "") if vv else "unknown"
    haproxy_ssl = next((ln.split(":", 1)[1].strip() for ln in vv if ln.startswith("Running on OpenSSL")), "?")
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False).stdout.strip()
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": f"{mem_kib / 2**20:.0f} GiB",
            "haproxy": haproxy, "haproxy_openssl": haproxy_ssl, "openssl": openssl,
            "python": platform.python_version(), "kernel": platform.release()}


def machine_line(facts: dict[str, str]) -> str:
    return (f"machine: nproc {facts['nproc']}, {facts['cpu']}, {facts['memory']} RAM, kernel {facts['kernel']}; "
            f"HAProxy {facts['haproxy']} (running on {facts['haproxy_openssl']}); {facts['openssl']}; "
            f"Python {facts['python']}")


# -- options -------------------------------------------------------------------------------------------------


def size_options(parser: argparse.ArgumentParser, quick: Sequence[int]) -> None:
    """``--n N[,N...]`` (repeatable) and ``--quick``, for a benchmark run at several certificate counts."""
    parser.add_argument("--n", action="append", metavar="N[,N...]", help="certificate counts")
    parser.add_argument("--quick", action="store_true", help=f"N = {', '.join(map(str, quick))}")


def chosen_sizes(args: argparse.Namespace, default: Sequence[int], quick: Sequence[int]) -> list[int]:
    """The counts given with ``--n``, else ``quick`` with ``--quick``, else ``default``: sorted, each once."""
    if args.n:
        return sorted({int(v) for item in args.n for v in item.split(",")})
    return list(quick if args.quick else default)


# -- numbers -------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f}"


# -- CPU of the whole machine -------------------------------------------------------------------------------


def cpu_times() -> tuple[float, float]:
    """(busy, total) seconds summed over all cores since boot, from /proc/stat (steal counts as busy)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


class MachineCPU:
    """How busy the whole machine was over a ``with`` block (every process: ours and anyone else's)."""

    def __enter__(self) -> MachineCPU:
        self.busy0, self.total0 = cpu_times()
        self.busy_s = 0.0
        self.share = 0.0
        return self

    def __exit__(self, *_: object) -> None:
        busy, total = cpu_times()
        self.busy_s = busy - self.busy0
        self.share = self.busy_s / (total - self.total0) if total > self.total0 else 0.0


def wait_quiet(limit: float, busy_below: float = 0.15, window: float = 2.0) -> float:
    """Wait (at most ``limit`` s) for a ``window`` in which the machine is less than ``busy_below`` busy, so that
    other work (tests, builds) does not share the cores with a benchmark; return the busy share last seen."""
    deadline = time.monotonic() + limit
    while True:
        with MachineCPU() as cpu:
            time.sleep(window)
        if cpu.share < busy_below or time.monotonic() >= deadline:
            if cpu.share >= busy_below:
                print(f"note: the machine is {cpu.share:.0%} busy with other work; running anyway",
                      file=sys.stderr, flush=True)
            return cpu.share


# -- ports and processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, port), timeout=0.5):
            return
        time.sleep(0.02)
    raise SystemExit(f"nothing listens on {LOCALHOST}:{port} after {within:.0f} s")


@dataclass
class Started:
    """Processes this benchmark started directly (clients, the backend): stopped by pid at the end."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def popen(self, command: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        proc: subprocess.Popen[bytes] = subprocess.Popen(list(command), **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def stop_all(self, wait: float = 5.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + wait
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def start_backend(started: Started) -> int:
    """sslterm's DemoApp in a process of its own (so a benchmark's Python work never delays it)."""
    port = free_port()
    started.popen([sys.executable, str(HERE / "haproxy_common.py"), "backend", str(port)],
                  stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return port


def run_backend(port: int) -> None:
    from sslterm.demo.app import DemoApp

    app = DemoApp(LOCALHOST, port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(3600)  # bounded even if nobody stops it
    app.stop()


def pids_naming(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (a load balancer's private directory)."""
    needle = marker.encode()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes():
                out.append(int(entry.name))
    return out


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def haproxy_roles(marker: str) -> dict[str, list[int]]:
    """{"master": [...], "worker": [...], "check": [...]} for one load balancer's HAProxy processes."""
    roles: dict[str, list[int]] = {"master": [], "worker": [], "check": []}
    mine = set(pids_naming(marker))
    for pid in mine:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if not cmdline or not cmdline[0].endswith(b"haproxy"):
            continue
        if b"-c" in cmdline:
            roles["check"].append(pid)
        elif ppid in mine:
            roles["worker"].append(pid)
        else:
            roles["master"].append(pid)
    return roles


class RSSSampler:
    """Samples VmRSS of every HAProxy process of one load balancer every ``interval`` seconds."""

    def __init__(self, marker: str, interval: float = 0.02) -> None:
        self.marker = marker
        self.interval = interval
        self.peak_total = 0  # KiB, master + workers + a running `haproxy -c`
        self.peak_serving = 0  # KiB, master + workers only
        self.peak_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            roles = haproxy_roles(self.marker)
            serving = sum(rss_kib(p) for p in roles["master"] + roles["worker"])
            total = serving + sum(rss_kib(p) for p in roles["check"])
            self.peak_total = max(self.peak_total, total)
            self.peak_serving = max(self.peak_serving, serving)
            self.peak_processes = max(self.peak_processes, sum(map(len, roles.values())))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def stop_leftovers(marker: str) -> list[int]:
    """After ``provider.stop()``: kill (by pid) any process still naming ``marker``; return their pids."""
    left = [p for p in pids_naming(marker) if p != os.getpid()]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in left):
        time.sleep(0.05)
    return left


# -- TLS -----------------------------------------------------------------------------------------------------


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # identity is checked by fingerprint; trust is not the point here
    return context


def served(port: int, server_name: str | None, timeout: float = 3.0) -> str | None:
    from sslterm.engine.probe import served_fingerprint

    try:
        return served_fingerprint(LOCALHOST, port, server_name, timeout)
    except (OSError, ssl.SSLError):
        return None


def wait_served(port: int, server_name: str | None, fingerprint: str, within: float = 30.0,
                interval: float = 0.0) -> float:
    """Handshake until ``fingerprint`` is served; the monotonic time of the first handshake that shows it."""
    deadline = time.monotonic() + within
    while True:
        seen = served(port, server_name)
        now = time.monotonic()
        if seen == fingerprint:
            return now
        if now >= deadline:
            raise SystemExit(f"{server_name or 'default'} on :{port} does not serve {fingerprint[:16]} "
                             f"after {within:.0f} s")
        time.sleep(interval)


# -- certificates --------------------------------------------------------------------------------------------


def make_slot(ca: object, name: str, sans: Iterable[str], key_kind: str = "ec", key: object = None) -> object:
    """A CertSlot (with its material) for ``sans``, issued by a DemoCA; a fresh key unless ``key`` is given."""
    from sslterm.certs.bundle import Bundle, fingerprint
    from sslterm.demo.ca import DemoCA, new_key
    from sslterm.engine.model import CertMaterial, CertSlot

    assert isinstance(ca, DemoCA)
    names = tuple(sans)
    issued = ca.issue(*names, key=key or new_key(key_kind), key_kind=key_kind)  # type: ignore[arg-type]
    bundle = Bundle(issued.cert, issued.chain, issued.key)
    return CertSlot(name, bundle.fingerprint, names, "RSA" if key_kind == "rsa" else "EC",
                    CertMaterial.of(bundle), chain=tuple(fingerprint(c) for c in issued.chain))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "backend":
        run_backend(int(sys.argv[2]))
    else:
        raise SystemExit("usage: haproxy_common.py backend PORT")
