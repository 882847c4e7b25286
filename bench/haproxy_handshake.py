"""HAProxy benchmark 3 (issue 3): new TLS handshakes per second with the configuration sslterm generates.

    .venv/bin/python bench/haproxy_handshake.py            # 10 s per run, about 1.5 minutes
    .venv/bin/python bench/haproxy_handshake.py --quick    # 3 s per run

For an RSA-2048 and an ECDSA P-256 certificate in turn, a managed HAProxy (sslterm's provider, default
``intermediate`` profile, ``nbthread`` left at its default = the CPUs) serves one TLS listener on 127.0.0.1.
The load is ``openssl s_time -connect 127.0.0.1:PORT -new -time T``: full handshakes, no resumption, no
request (the connection closes after the handshake), run as 1, 2 and 4 client processes at once
(``--clients``). Reported:

* handshakes/s = connections s_time counted, summed over its processes, divided by the wall time measured
  here (s_time itself rounds real time to whole seconds);
* handshakes per second of HAProxy CPU = the same count over the worker's utime+stime during the run
  (/proc/PID/stat): what one core running only HAProxy would do, client cost removed;
* the ceiling: ``openssl speed -seconds S rsa2048`` / ``ecdsap256`` sign/s (one core), measured in the
  same run: each full handshake costs the server one signature plus an X25519 key exchange and the rest.

The clients run on the same 2 cores as HAProxy, so the wall-clock figures are for HAProxy and its clients
together, not HAProxy alone: that is what the per-CPU-second column is for.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haproxy_common import (
    HAPROXY,
    LOCALHOST,
    MachineCPU,
    Started,
    cpu_seconds,
    free_port,
    haproxy_roles,
    machine,
    machine_line,
    make_slot,
    stop_leftovers,
    wait_quiet,
    wait_served,
)

KINDS = (("RSA-2048", "rsa", "rsa2048"), ("ECDSA P-256", "ec", "ecdsap256"))
_SPEED = re.compile(r"^\s*(rsa|256 bits ecdsa)\s.*$", re.MULTILINE)


def openssl_speed(algorithm: str, seconds: int) -> float:
    """sign/s from ``openssl speed -seconds S ALG`` (one process, one core)."""
    done = subprocess.run(["openssl", "speed", "-seconds", str(seconds), algorithm], capture_output=True, text=True,
                          timeout=seconds * 10 + 60, check=True)
    for line in done.stdout.splitlines():
        parts = line.split()
        # "rsa 2048 bits 0.000311s 0.000022s 3220.1 45007.3", "256 bits ecdsa (nistp256) 0.0000s 0.0001s 45567.3 ..."
        if (line.startswith("rsa 2048 bits") or "ecdsa (nistp256)" in line) and len(parts) >= 2:
            return float(parts[-2])
    raise SystemExit(f"cannot read sign/s from openssl speed {algorithm}:\n{done.stdout[-800:]}")


def negotiated(port: int) -> str:
    """Protocol, cipher and key exchange group of one handshake, as openssl s_client reports them."""
    done = subprocess.run(["openssl", "s_client", "-connect", f"{LOCALHOST}:{port}", "-brief"], input="",
                          capture_output=True, text=True, timeout=20, check=False)
    text = done.stdout + done.stderr
    found = {key: m.group(1).strip() for key in ("Protocol version", "Ciphersuite", "Server Temp Key",
                                                 "Peer Temp Key", "Signature type")
             if (m := re.search(rf"^{key}:\s*(.+)$", text, re.MULTILINE))}
    return ", ".join(f"{v}" for v in found.values()) or "unknown"


def s_time(port: int, clients: int, seconds: int, started: Started) -> dict[str, Any]:
    workers = haproxy_roles_for(port)
    cpu_before = sum(cpu_seconds(p) for p in workers)
    t0 = time.perf_counter()
    machine_cpu = MachineCPU().__enter__()
    with tempfile.TemporaryDirectory(prefix="sslterm-bench-stime-") as tmp:
        files = [Path(tmp) / f"s_time-{i}.txt" for i in range(clients)]
        procs = []
        for path in files:
            with path.open("wb") as out:
                procs.append(started.popen(["openssl", "s_time", "-connect", f"{LOCALHOST}:{port}", "-new", "-time",
                                            str(seconds)], stdout=out, stderr=subprocess.STDOUT))
        client_cpu = 0.0
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            client_cpu += usage.ru_utime + usage.ru_stime
        wall = time.perf_counter() - t0
        machine_cpu.__exit__()
        outputs = [path.read_text(errors="replace") for path in files]
    cpu = sum(cpu_seconds(p) for p in workers) - cpu_before
    counts = []
    for text in outputs:
        match = re.search(r"^(\d+) connections in [\d.]+s;", text, re.MULTILINE)
        if not match:
            raise SystemExit(f"cannot read the count from openssl s_time:\n{text[-800:]}")
        counts.append(int(match.group(1)))
    total = sum(counts)
    cores = os.cpu_count() or 1
    return {"clients": clients, "handshakes": total, "wall_s": wall, "rate": total / wall,
            "haproxy_cpu_s": cpu, "per_cpu_s": total / cpu if cpu else float("nan"),
            "haproxy_cpu_share": cpu / wall / cores, "client_cpu_share": client_cpu / wall / cores,
            "rest_share": max(0.0, machine_cpu.busy_s - cpu - client_cpu) / wall / cores,
            "idle_share": 1 - machine_cpu.share}


_ROOTS: dict[int, str] = {}


def haproxy_roles_for(port: int) -> list[int]:
    return haproxy_roles(_ROOTS[port])["worker"]


def run(seconds: int, speed_seconds: int, client_counts: Sequence[int]) -> list[dict[str, Any]]:
    from sslterm.demo.ca import DemoCA
    from sslterm.engine.model import ListenerSpec
    from sslterm.providers.haproxy import create

    results = []
    ca = DemoCA("sslterm handshake bench")
    for label, key_kind, algorithm in KINDS:
        slot = make_slot(ca, "hs", ("hs.bench.test",), key_kind=key_kind)
        port = free_port()
        started = Started()
        with tempfile.TemporaryDirectory(prefix="sslterm-bench-hs-") as tmp:
            root = Path(tmp) / "lb"
            _ROOTS[port] = str(root)
            provider = create("hs", {"bind": f"{LOCALHOST}:{port}", "backends": [f"{LOCALHOST}:9"]}, root,
                              {"haproxy_binary": HAPROXY})
            try:
                listener = ListenerSpec(port, certificates=(slot,))  # type: ignore[arg-type]
                provider.bind(listener, {slot.fingerprint: provider.upload(slot)})  # type: ignore[attr-defined]
                wait_served(port, None, slot.fingerprint)  # type: ignore[attr-defined]
                bind_line = next(ln.strip() for ln in (root / "haproxy.cfg").read_text().splitlines()
                                 if ln.strip().startswith("bind ") and " ssl " in ln)
                threads = len(list(Path(f"/proc/{haproxy_roles_for(port)[0]}/task").iterdir()))
                result: dict[str, Any] = {"certificate": label, "negotiated": negotiated(port),
                                          "haproxy_threads": threads, "bind": bind_line}
                result["runs"] = [s_time(port, clients, seconds, started) for clients in client_counts]
            finally:
                provider.stop()
                started.stop_all()
                left = stop_leftovers(str(root))
                if left:
                    print(f"WARNING: stopped leftover processes {left}", file=sys.stderr)
        result["sign_per_s"] = openssl_speed(algorithm, speed_seconds)  # HAProxy stopped: a quiet machine
        results.append(result)
        best = max(r["rate"] for r in result["runs"])
        print(f"{label}: {best:,.0f} handshakes/s; openssl speed {result['sign_per_s']:,.0f} sign/s",
              file=sys.stderr, flush=True)
    return results


def report(results: list[dict[str, Any]], facts: dict[str, str], seconds: int, speed_seconds: int) -> list[str]:
    lines = [machine_line(facts),
             f"load: openssl s_time -connect 127.0.0.1:PORT -new -time {seconds}, N processes at once, on the "
             "same cores as HAProxy; ceiling: openssl speed -seconds "
             f"{speed_seconds} rsa2048 / ecdsap256 (sign/s, one core)", ""]
    for r in results:
        lines.append(f"- {r['certificate']}: negotiated {r['negotiated']}; HAProxy worker threads: "
                     f"{r['haproxy_threads']}")
    lines += ["", "| certificate | s_time processes | handshakes | handshakes/s (wall) | HAProxy CPU s "
              "| CPU of the 2 cores: HAProxy / s_time / rest (kernel, other processes) / idle "
              "| handshakes per HAProxy CPU-second | openssl speed sign/s (1 core) | wall rate / sign/s "
              "| per-CPU-second rate / sign/s |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for r in results:
        for run_ in r["runs"]:
            lines.append(f"| {r['certificate']} | {run_['clients']} | {run_['handshakes']:,} | {run_['rate']:,.0f} "
                         f"| {run_['haproxy_cpu_s']:.2f} | {run_['haproxy_cpu_share']:.0%} / "
                         f"{run_['client_cpu_share']:.0%} / {run_['rest_share']:.0%} / {run_['idle_share']:.0%} "
                         f"| {run_['per_cpu_s']:,.0f} | {r['sign_per_s']:,.0f} "
                         f"| {run_['rate'] / r['sign_per_s']:.2f} | {run_['per_cpu_s'] / r['sign_per_s']:.2f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time", type=int, default=10, help="seconds per s_time run (default 10)")
    parser.add_argument("--speed-seconds", type=int, default=3, help="seconds per openssl speed run (default 3)")
    parser.add_argument("--clients", default="1,2,4", help="s_time process counts to run (default 1,2,4)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s openssl speed")
    parser.add_argument("--wait-quiet", type=float, default=60.0,
                        help="first wait up to this many seconds for the machine to be idle (default 60)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.time, args.speed_seconds = min(args.time, 3), 1
    if not 1 <= args.time <= 120 or not 1 <= args.speed_seconds <= 30:
        parser.error("--time must be 1..120 and --speed-seconds 1..30")
    facts = machine()
    wait_quiet(args.wait_quiet)
    counts = sorted({int(v) for v in args.clients.split(",") if v.strip()})
    if not counts or counts[0] < 1 or counts[-1] > 16:
        parser.error("--clients: 1..16 processes")
    results = run(args.time, args.speed_seconds, counts)
    print("\n".join(report(results, facts, args.time, args.speed_seconds)))
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "runs": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
