"""Benchmark (issue 10): latency of the REST API and the web UI with N certificates in the store, a page of 100
and one certificate, side by side with the CLI.

    .venv/bin/python bench/api_bench.py                  # N = 100, 1,000, 10,000 (about 3 minutes here)
    .venv/bin/python bench/api_bench.py --quick          # N = 100, 1,000
    .venv/bin/python bench/api_bench.py --n 3000 --json results.json

For each N, a fresh SQLite store of its own holds N certificates (ECDSA P-256 leaves of one demo CA, a name,
SAN and serial each; their expiries spread over 1 to 397 days, so that about 7.5% expire within 30 days),
written as ``sslterm cert import`` writes rows (``store.certificates.NewRows``; not timed); no load balancer.
Then, for every N at once, the real ``sslterm serve --listen 127.0.0.1:PORT`` (uvicorn, a process of its own,
started and stopped by ``tests/ui/ui_tools.start_server``), and this process as the client: httpx, one
keep-alive connection per server and per side (API with the bearer token, UI with a session logged in with it),
one request at a time. Each loop is interleaved over the N (one request to each server in turn), so that a
change in the machine's load falls on every N alike; it runs a warm-up, then at most ``--requests`` rounds and
``--seconds`` seconds, whatever happens:

* ``api list``:  ``GET /api/v1/certificates?limit=100&offset=K``, K over every page of the list;
* ``UI list``:   ``GET /certificates?page=P`` (the UI's pages are 100 long), P over every page;
* ``api one``:   ``GET /api/v1/certificates/NAME``, names spread over the list;
* ``UI one``:    ``GET /certificates/NAME`` (its facts and its versions);
* ``UI dashboard``: ``GET /`` (what expires within 30 days, what is not served as the store says);
* ``cli list`` / ``cli show``: ``sslterm cert list --json`` (every certificate) and ``sslterm cert show NAME
  --json`` as processes, wall time, ``--cli-runs`` each (interleaved over the N too).

Every response is checked (status, the page's first name, the total). Besides latency: the server process's
CPU per request (utime + stime from /proc, over the loop) and the response's size.

Targets (issue 10): a page of 100 (``api list`` and ``UI list``) under 50 ms p99 at N = 10,000, and flat in
N: p50 at the largest N within 1.5x of p50 at the smallest (p99, the 2nd slowest of 200 requests, is shown
beside it; on a shared machine it is mostly the scheduler's).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # pkitools, which ui_tools uses
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "haproxy"))  # e2e_haproxy, the same
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ui"))  # ui_tools.start_server

import httpx
from ui_tools import TOKEN, start_server

from haproxy_common import (
    MachineCPU,
    chosen_sizes,
    cpu_seconds,
    free_port,
    machine,
    machine_line,
    percentile,
    size_options,
    wait_quiet,
)
from sslterm.api.ui.guard import CSRF_FIELD
from sslterm.api.ui.sessions import SESSION_COOKIE

DEFAULT_SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
MAX_N = 50_000
PAGE = 100  # the API's page asked for, and the UI's page size (sslterm.api.ui.overview.PAGE_SIZE)
KEY_POOL = 16  # leaves share keys: a key each adds nothing to what is measured
LEAF_DAYS = 397
SPREAD = 7919  # a prime: page i and name i are spread over the whole list
TARGET_P99_MS, TARGET_RATIO = 50.0, 1.5
WARM_UP = 20
TIMEOUT = 30.0  # seconds, one request


def cert_name(i: int) -> str:
    return f"site-{i:05d}"


# -- the stores ----------------------------------------------------------------------------------------------


def issue(n: int) -> list[Any]:
    """N leaves of one demo CA, issued two days ago, expiring 1 to 397 days from now (spread over the names)."""
    from sslterm.demo.ca import DemoCA, new_key

    ca = DemoCA("sslterm api bench", now=datetime.now(UTC) - timedelta(days=2))
    keys = [new_key("ec") for _ in range(KEY_POOL)]
    return [ca.issue(f"{cert_name(i)}.api.bench.test", key=keys[i % KEY_POOL], days=2 + 1 + (i * SPREAD) % LEAF_DAYS)
            for i in range(n)]


def seed(home: Path, issued: Sequence[Any]) -> float:
    """The first ``len(issued)`` certificates in a new store at ``home``, in one transaction; seconds taken."""
    from sslterm.certs import Bundle
    from sslterm.service import Service
    from sslterm.settings import Settings
    from sslterm.store.certificates import NewRows

    started = time.perf_counter()
    service = Service(Settings(home=home))
    try:
        now = service.clock()
        with service.db.transaction() as session:
            new = NewRows()
            for i, item in enumerate(issued):
                new.put(cert_name(i), Bundle(item.cert, item.chain, item.key), service.vault, now)
            new.write(session)
    finally:
        service.close()
    return time.perf_counter() - started


# -- what is measured ----------------------------------------------------------------------------------------


def page_offset(n: int, i: int) -> int:
    return (i * SPREAD) % math.ceil(n / PAGE) * PAGE


def spread_name(n: int, i: int) -> str:
    return cert_name((i * SPREAD) % n)


def _api_list(reply: httpx.Response, n: int, i: int) -> bool:
    body, offset = reply.json(), page_offset(n, i)
    return (body["total"] == n and len(body["items"]) == min(PAGE, n - offset)
            and body["items"][0]["name"] == cert_name(offset))


@dataclass(frozen=True)
class Kind:
    """One measurement: the path of request ``i`` to the server of N certificates, and whether its reply is
    right (status 200 is checked apart)."""

    key: str
    api: bool  # the API's client (bearer token), else the UI's (session cookie)
    path: Callable[[int, int], str]
    right: Callable[[httpx.Response, int, int], bool]


KINDS = (
    Kind("api list", True, lambda n, i: f"/api/v1/certificates?limit={PAGE}&offset={page_offset(n, i)}", _api_list),
    Kind("UI list", False, lambda n, i: f"/certificates?page={page_offset(n, i) // PAGE + 1}",
         lambda r, n, i: f'href="/certificates/{cert_name(page_offset(n, i))}"' in r.text),
    Kind("api one", True, lambda n, i: f"/api/v1/certificates/{spread_name(n, i)}",
         lambda r, n, i: r.json()["name"] == spread_name(n, i)),
    Kind("UI one", False, lambda n, i: f"/certificates/{spread_name(n, i)}",
         lambda r, n, i: f"Certificate {spread_name(n, i)}</h1>" in r.text),
    Kind("UI dashboard", False, lambda n, i: "/", lambda r, n, i: "Certificates expiring within" in r.text),
)
CLI_KINDS = ("cli list", "cli show")


@dataclass
class Server:
    n: int
    url: str
    pid: int
    home: Path
    api: httpx.Client
    ui: httpx.Client


def logged_in(url: str) -> httpx.Client:
    """A UI client with a session, logged in as a person does: the login form's CSRF token and the API token."""
    client = httpx.Client(base_url=url, timeout=TIMEOUT)
    form = client.get("/login")
    found = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
    if form.status_code != 200 or found is None:
        raise SystemExit(f"{url}/login: no login form ({form.status_code})")
    reply = client.post("/login", data={CSRF_FIELD: found.group(1), "token": TOKEN, "next": "/"})
    if reply.status_code != 303 or SESSION_COOKIE not in client.cookies:
        raise SystemExit(f"{url}: logging in failed ({reply.status_code})")
    return client


def summary(ms: list[float], cpu_s: float, size: int) -> dict[str, Any]:
    return {"count": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms),
            "server_cpu_ms": cpu_s * 1000 / len(ms), "bytes": size, "ms": ms}


def http_loop(kind: Kind, servers: Sequence[Server], rounds: int, seconds: float) -> dict[int, dict[str, Any]]:
    """Warm-up, then one request to each server in turn, at most ``rounds`` rounds and ``seconds`` seconds."""

    def get(server: Server, i: int) -> tuple[float, int]:
        client = server.api if kind.api else server.ui
        started = time.perf_counter()
        reply = client.get(kind.path(server.n, i))
        took = time.perf_counter() - started
        if reply.status_code != 200 or not kind.right(reply, server.n, i):
            raise SystemExit(f"{kind.key} N={server.n}: {kind.path(server.n, i)} -> {reply.status_code} "
                             f"{reply.text[:300]!r}")
        return took * 1000, len(reply.content)

    for i in range(WARM_UP):
        for server in servers:
            get(server, i)
    ms: dict[int, list[float]] = {s.n: [] for s in servers}
    size: dict[int, int] = {}
    cpu0 = {s.n: cpu_seconds(s.pid) for s in servers}
    deadline = time.monotonic() + seconds
    for i in range(rounds):
        for server in servers:
            took, size[server.n] = get(server, WARM_UP + i)
            ms[server.n].append(took)
        if time.monotonic() >= deadline:
            break
    return {s.n: summary(ms[s.n], cpu_seconds(s.pid) - cpu0[s.n], size[s.n]) for s in servers}


def cli_loop(key: str, servers: Sequence[Server], runs: int, seconds: float) -> dict[int, dict[str, Any]]:
    """``sslterm cert list --json`` / ``cert show NAME --json`` as processes, on each store in turn."""
    sslterm = Path(sys.executable).with_name("sslterm")
    command = [str(sslterm)] if sslterm.exists() else [sys.executable, "-m", "sslterm"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}

    def run(server: Server, i: int) -> tuple[float, int]:
        args = ["cert", "list", "--json"] if key == "cli list" else ["cert", "show", spread_name(server.n, i), "--json"]
        started = time.perf_counter()
        done = subprocess.run([*command, *args], env=env | {"SSLTERM_HOME": str(server.home)}, capture_output=True,
                              timeout=300, check=False)
        took = time.perf_counter() - started
        shown = json.loads(done.stdout) if done.returncode == 0 else None
        wrong = shown is None or (len(shown) != server.n if key == "cli list"
                                  else shown["name"] != spread_name(server.n, i))
        if wrong:
            raise SystemExit(f"{key} N={server.n}: exit {done.returncode} {done.stderr[-500:]!r}")
        return took * 1000, len(done.stdout)

    for server in servers:
        run(server, 0)  # warm-up: the files in the page cache, .pyc written
    ms: dict[int, list[float]] = {s.n: [] for s in servers}
    size: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    for i in range(runs):
        for server in servers:
            took, size[server.n] = run(server, i + 1)
            ms[server.n].append(took)
        if time.monotonic() >= deadline:
            break
    return {s.n: summary(ms[s.n], 0.0, size[s.n]) | {"server_cpu_ms": None} for s in servers}


# -- the run -------------------------------------------------------------------------------------------------


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def measure(sizes: Sequence[int], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    started = time.perf_counter()
    issued = issue(sizes[-1])
    seeded = {n: seed(tmp / f"n{n}" / "data", issued[:n]) for n in sizes}
    print(f"issued {sizes[-1]:,} leaves and seeded the stores in {time.perf_counter() - started:.0f} s "
          f"({', '.join(f'N={n:,}: {s:.1f} s' for n, s in seeded.items())})", file=sys.stderr, flush=True)
    del issued
    gc.collect()
    gc.freeze()  # what seeding left is not scanned again by the client's collections
    busy_before = wait_quiet(args.wait_quiet)
    out: dict[str, Any] = {"seed_s": seeded, "uptime_before": uptime(), "busy_before": busy_before, "runs": {}}
    with contextlib.ExitStack() as stack:
        servers = []
        for n in sizes:
            served = stack.enter_context(start_server(tmp / f"n{n}", free_port()))
            api = stack.enter_context(httpx.Client(base_url=served.url, timeout=TIMEOUT,
                                                   headers={"Authorization": f"Bearer {TOKEN}"}))
            ui = logged_in(served.url)
            stack.callback(ui.close)
            servers.append(Server(n, served.url, served.process.pid, served.home, api, ui))
        with MachineCPU() as cpu:
            for kind in KINDS:
                out["runs"][kind.key] = http_loop(kind, servers, args.requests, args.seconds)
                print(f"{kind.key}: done", file=sys.stderr, flush=True)
            for key in CLI_KINDS:
                out["runs"][key] = cli_loop(key, servers, args.cli_runs, args.cli_seconds)
                print(f"{key}: done", file=sys.stderr, flush=True)
    out["machine_busy"], out["uptime_after"] = cpu.share, uptime()
    return out


def report(sizes: Sequence[int], result: dict[str, Any], facts: dict[str, str]) -> list[str]:
    runs, first, last = result["runs"], sizes[0], sizes[-1]
    lines = [machine_line(facts), f"uptime before: {result['uptime_before']}",
             f"uptime after: {result['uptime_after']}; whole machine {result['machine_busy']:.0%} busy while measuring",
             "", "| measurement | " + " | ".join(f"N={n:,}: p50 / p99 ms" for n in sizes)
             + f" | p50 ratio {last:,}/{first:,} | p99 ratio | server CPU ms per request | response KB |",
             "|---|" + "---:|" * (len(sizes) + 4)]
    for key, by_n in runs.items():
        a, b = by_n[first], by_n[last]
        cpu = " / ".join("-" if by_n[n]["server_cpu_ms"] is None else f"{by_n[n]['server_cpu_ms']:.1f}" for n in sizes)
        lines.append(f"| {key} ({a['count']} each) | "
                     + " | ".join(f"{by_n[n]['p50_ms']:.1f} / {by_n[n]['p99_ms']:.1f}" for n in sizes)
                     + f" | {b['p50_ms'] / a['p50_ms']:.2f}x | {b['p99_ms'] / a['p99_ms']:.2f}x | {cpu} | "
                     + " / ".join(f"{by_n[n]['bytes'] / 1024:,.0f}" for n in sizes) + " |")
    lines.append("")
    for key in ("api list", "UI list"):
        a, b = runs[key][first], runs[key][last]
        fast, ratio = b["p99_ms"] < TARGET_P99_MS, b["p50_ms"] / a["p50_ms"]
        lines.append(f"target for {key} (a page of {PAGE}): p99 under {TARGET_P99_MS:.0f} ms at N={last:,}: "
                     f"{'met' if fast else 'NOT met'} ({b['p99_ms']:.1f} ms); flat in N (p50 at N={last:,} within "
                     f"{TARGET_RATIO}x of N={first:,}): {'met' if ratio <= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_options(parser, QUICK_SIZES)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per measurement and N (200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most this long per measurement (60)")
    parser.add_argument("--cli-runs", type=int, default=10, help="timed CLI processes per command and N (10)")
    parser.add_argument("--cli-seconds", type=float, default=180.0, help="at most this long per CLI command (180)")
    parser.add_argument("--wait-quiet", type=float, default=60.0, help="wait up to this long for an idle machine")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw figures as JSON")
    args = parser.parse_args(argv)
    sizes = chosen_sizes(args, DEFAULT_SIZES, QUICK_SIZES)
    if not sizes or sizes[0] < 1 or sizes[-1] > MAX_N or not 1 <= args.requests <= 10_000 or \
            not 1 <= args.cli_runs <= 100:
        parser.error(f"each N must be 1..{MAX_N:,}, --requests 1..10,000, --cli-runs 1..100")
    facts = machine()
    with tempfile.TemporaryDirectory(prefix="ssb-") as tmp:  # short: like the UI tests' data directories
        os.chmod(tmp, 0o700)
        result = measure(sizes, args, Path(tmp))
    print("\n".join(report(sizes, result, facts)))
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "sizes": sizes, **result}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
