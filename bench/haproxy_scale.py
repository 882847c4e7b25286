"""Benchmark (issue 7, "Scale, again"): how long until a replaced or an added certificate is served, with N
certificates on one HAProxy listener, through the path a user runs: the service (journal and lease).

    .venv/bin/python bench/haproxy_scale.py             # N = 100, 1,000, 10,000 (about 6 minutes here)
    .venv/bin/python bench/haproxy_scale.py --quick     # N = 100, 1,000
    .venv/bin/python bench/haproxy_scale.py --n 3000    # sizes of your choice

For each N, in a data directory of its own: N certificates (ECDSA P-256, one DNS name each: an SNI filter
each in sslterm's crt-list) are written to a fresh store, attached in order to one listener of a managed
HAProxy on 127.0.0.1, and deployed by ``Service.apply`` (set-up, timed apart). Then, timed from the call to
the first handshake that shows the new certificate (the engine's own verifying handshake, right after
HAProxy took it), and to the call's return:

* **replace**: ``Service.add_certificate(NAME, bundle, replace=True)`` of the certificate in the middle of
  the listener (``sslterm cert add NAME --replace``): validation, store, plan, lease and journal, commit,
  ``rotate`` (HAProxy's runtime API), verification, outcome, cleanup. The first one in the process is shown
  apart ("first"): it fills the process's caches; then ``--repeat`` more, median and max;
* **add**: ``Service.enable(LB, NAME)`` of a new certificate with a name of its own, appended to the listener
  (``add ssl crt-list``, no reload); the certificate was stored beforehand (not timed); ``--repeat`` times;
* **new process**: the same replace made by a new Python process on the same data directory (imports and
  ``Service()`` not counted): what each ``sslterm cert add --replace`` command pays beyond its start-up;
* **engine only**: ``Applier.apply(compute(observe(), wanted, rotate_in_place=True))`` on the same provider
  (no store, no journal): the engine and HAProxy provider's share.

The chain ends at a root given to the service as trusted (``Service(anchors=...)``), as a public CA's would
be. Target (issue 7): flat in N (10,000 within 1.2x of 100), under 20 ms at 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haproxy_common import (
    HAPROXY,
    LOCALHOST,
    MachineCPU,
    chosen_sizes,
    free_port,
    machine,
    machine_line,
    make_slot,
    median,
    size_options,
    stop_leftovers,
    wait_quiet,
)

DEFAULT_SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
MAX_N = 20_000
TARGET_MS, TARGET_RATIO = 20.0, 1.2
DOMAIN = "scale.bench.test"


def host(name: str) -> str:
    return f"{name}.{DOMAIN}"


class Clock:
    """The engine's prober, recording when a handshake first showed each certificate since ``reset``."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}

    def reset(self) -> None:
        self.first.clear()

    def __call__(self, target: Any) -> Any:
        from sslterm.engine.probe import probe

        served = probe(target)
        if served.ok:
            self.first.setdefault(target.certificate, time.perf_counter())
        return served


def service(home: Path, ca: Any, clock: Clock) -> Any:
    from sslterm.service import Service
    from sslterm.settings import Settings

    return Service(Settings(home=home, haproxy_binary=HAPROXY), anchors=(ca.root,), verify_within=15.0, prober=clock)


def bundle(ca: Any, name: str) -> Any:
    from sslterm.certs import BundleInput

    issued = ca.issue(host(name))
    return BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem())


def build(svc: Any, ca: Any, n: int, port: int) -> dict[str, float]:
    """N certificate rows (as ``cert import`` writes them), one listener with all of them, deployed."""
    from sqlalchemy import insert, select

    from sslterm.certs import Bundle
    from sslterm.store import certificates as rows
    from sslterm.store.schema import CertificateRow, ListenerRow, LoadBalancerRow, TerminationRow

    now, out = datetime.now(UTC), {}
    started = time.perf_counter()
    with svc.db.transaction() as session:
        new = rows.NewRows()
        for i in range(n):
            issued = ca.issue(host(f"c{i:05d}"))
            new.put(f"c{i:05d}", Bundle(issued.cert, issued.chain, issued.key), svc.vault, now)
        new.write(session)
    out["store_s"] = time.perf_counter() - started
    svc.add_load_balancer("scale", "haproxy", {"bind": f"{LOCALHOST}:{port}", "backends": [f"{LOCALHOST}:9"]})
    with svc.db.transaction() as session:
        lb = session.scalars(select(LoadBalancerRow).where(LoadBalancerRow.name == "scale")).one()
        listener = ListenerRow(load_balancer=lb, lb_port=port, instance_port=None, instance_protocol="HTTP",
                               redirect_http=False, hsts=False, tls_profile="intermediate", created_at=now)
        session.add(listener)
        session.flush()
        ids = {name: id_ for name, id_ in session.execute(select(CertificateRow.name, CertificateRow.id))}
        session.execute(insert(TerminationRow), [{"listener_id": listener.id, "certificate_id": ids[f"c{i:05d}"],
                                                  "position": i, "created_at": now} for i in range(n)])
    started = time.perf_counter()
    svc.apply("scale")  # N uploads and one bind: HAProxy loads them (a reload)
    out["deploy_s"] = time.perf_counter() - started
    return out


def timed(call: Any, clock: Clock, name: str) -> dict[str, float]:
    clock.reset()
    started = time.perf_counter()
    call()
    done = time.perf_counter()
    if name not in clock.first:
        raise SystemExit(f"no handshake showed {name}")
    return {"served_ms": (clock.first[name] - started) * 1000, "call_ms": (done - started) * 1000}


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {"served_ms": median([r["served_ms"] for r in runs]), "served_max_ms": max(r["served_ms"] for r in runs),
            "call_ms": median([r["call_ms"] for r in runs]), "count": len(runs)}


def new_process(home: Path, ca: Any, name: str, tmp: Path) -> dict[str, float]:
    """The replace made by a fresh interpreter (its imports and ``Service()`` not counted)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    item = bundle(ca, name)
    files = {"cert.pem": item.cert, "chain.pem": item.chain, "key.pem": item.key,
             "root.pem": ca.root.public_bytes(Encoding.PEM)}
    for file, data in files.items():
        (tmp / file).write_bytes(data)
        (tmp / file).chmod(0o600)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(home), str(tmp), name],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def worker(home: Path, files: Path, name: str) -> None:
    from cryptography import x509

    from sslterm.certs import BundleInput

    class Root:  # what service() needs of a CA
        root = x509.load_pem_x509_certificate((files / "root.pem").read_bytes())

    clock = Clock()
    svc = service(home, Root, clock)
    item = BundleInput(cert=(files / "cert.pem").read_bytes(), chain=(files / "chain.pem").read_bytes(),
                       key=(files / "key.pem").read_bytes())
    print(json.dumps(timed(lambda: svc.add_certificate(name, item, replace=True), clock, name)))


def engine_only(provider: Any, ca: Any, clock: Clock, name: str) -> dict[str, float]:
    from sslterm.engine.apply import Applier
    from sslterm.engine.plan import compute

    (current,) = provider.observe().listeners
    slot = make_slot(ca, name, (host(name),))
    wanted = replace(current, certificates=tuple(slot if c.name == name else c for c in current.certificates))

    def call() -> None:
        plan = compute("scale", provider.observe().listeners, [wanted], rotate_in_place=True)
        Applier(provider, verify_within=15.0, prober=clock).apply(plan)

    return timed(call, clock, name)


def one_size(n: int, repeat: int, tmp: Path) -> dict[str, Any]:
    from sslterm.demo.ca import DemoCA

    ca, clock, port = DemoCA("sslterm scale bench"), Clock(), free_port()
    home = tmp / f"n{n}"
    svc = service(home, ca, clock)
    out: dict[str, Any] = {"n": n}
    try:
        out |= build(svc, ca, n, port)
        provider = svc.ctx.providers["scale"]
        middle = f"c{n // 2:05d}"
        with MachineCPU() as cpu:
            runs = [timed(lambda: svc.add_certificate(middle, bundle(ca, middle), replace=True), clock, middle)
                    for _ in range(repeat + 1)]
            out["first"], out["replace"] = runs[0], summary(runs[1:])
            paths = {provider.last_path}
            adds = []
            for i in range(repeat):
                name = f"new{i}"
                svc.add_certificate(name, bundle(ca, name))
                adds.append(timed(lambda name=name: svc.enable("scale", name, lb_port=port), clock, name))
                paths.add(provider.last_path)
            out["add"] = summary(adds)
            out["new_process"] = summary([new_process(home, ca, middle, tmp) for _ in range(3)])
            svc.add_certificate(middle, bundle(ca, middle), replace=True)  # this process reads the files again
            out["engine"] = summary([engine_only(provider, ca, clock, middle) for _ in range(repeat)])
            paths.add(provider.last_path)
        out["paths"], out["machine_busy"] = sorted(paths), cpu.share
    finally:
        svc.ctx.providers["scale"].stop() if "scale" in svc.ctx.providers else None
        left = stop_leftovers(str(home))
        if left:
            print(f"WARNING: stopped leftover processes {left}", file=sys.stderr)
    return out


def report(results: list[dict[str, Any]], facts: dict[str, str]) -> list[str]:
    lines = [machine_line(facts), "",
             "| N | replace: served ms (median / max) | replace: call returns ms | first replace in the process: "
             "served / call ms | add: served ms (median / max) | add: call returns ms | new process: served / call "
             "ms | engine only: served / call ms | set-up: N rows s / deploy s | machine busy |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rp, ad, npr, en, fi = r["replace"], r["add"], r["new_process"], r["engine"], r["first"]
        lines.append(f"| {r['n']:,} | **{rp['served_ms']:.1f}** / {rp['served_max_ms']:.1f} | {rp['call_ms']:.1f} "
                     f"| {fi['served_ms']:.1f} / {fi['call_ms']:.1f} | **{ad['served_ms']:.1f}** / "
                     f"{ad['served_max_ms']:.1f} | {ad['call_ms']:.1f} | {npr['served_ms']:.1f} / {npr['call_ms']:.1f} "
                     f"| {en['served_ms']:.1f} / {en['call_ms']:.1f} | {r['store_s']:.1f} / {r['deploy_s']:.1f} "
                     f"| {r['machine_busy']:.0%} |")
    first, last = results[0], results[-1]
    for what in ("replace", "add"):
        ratio = last[what]["served_ms"] / first[what]["served_ms"]
        met = last[what]["served_ms"] <= TARGET_MS and ratio <= TARGET_RATIO
        lines.append(f"target for {what} (N={last['n']:,} served within {TARGET_RATIO}x of N={first['n']:,} and "
                     f"under {TARGET_MS:.0f} ms): {'met' if met else 'NOT met'} "
                     f"({last[what]['served_ms']:.1f} ms, {ratio:.2f}x)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_options(parser, QUICK_SIZES)
    parser.add_argument("--repeat", type=int, default=7, help="timed replaces and adds per N (default 7)")
    parser.add_argument("--wait-quiet", type=float, default=60.0, help="wait up to this long for an idle machine")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]), args.worker[2])
        return 0
    sizes = chosen_sizes(args, DEFAULT_SIZES, QUICK_SIZES)
    if not sizes or sizes[0] < 2 or sizes[-1] > MAX_N or not 1 <= args.repeat <= 100:
        parser.error(f"each N must be 2..{MAX_N:,}, --repeat 1..100")
    facts = machine()
    wait_quiet(args.wait_quiet)
    results = []
    with tempfile.TemporaryDirectory(prefix="sslterm-bench-scale-") as tmp:
        os.chmod(tmp, 0o700)
        for n in sizes:
            started = time.perf_counter()
            results.append(one_size(n, args.repeat, Path(tmp)))
            r = results[-1]
            print(f"N={n:>6,}: replace {r['replace']['served_ms']:.1f} ms, add {r['add']['served_ms']:.1f} ms "
                  f"({time.perf_counter() - started:.0f} s for this N)", file=sys.stderr, flush=True)
    print("\n".join(report(results, facts)))
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "runs": results}, indent=1) + "\n")
    odd = [f"N={r['n']}: went live by {r['paths']}" for r in results if r["paths"] != ["runtime"]]
    for line in odd:
        print(f"PROBLEM {line}", file=sys.stderr)
    return 1 if odd else 0


if __name__ == "__main__":
    sys.exit(main())
