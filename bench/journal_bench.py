"""Journal and lease overhead per deployment (issue 7), on SQLite and on PostgreSQL, side by side.

A deployment costs, beyond the change itself: taking the lease and recording the deployment in the command's
transaction, and a second transaction that records the outcome and releases the lease. This measures exactly
those store operations (``sslterm.store.journal``), against the same transactions doing nothing (an empty
writing transaction, which every command already pays), so the figure is the overhead the journal adds: for
a deployment that replaces one certificate on a listener of 1 and of 10,000 certificates (``--certificates``).

    .venv/bin/python bench/journal_bench.py [--rounds 300] [--json FILE]

PostgreSQL is a throw-away cluster (Debian's ``postgresql``; ``tests/pgcluster.py``) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pgcluster import Cluster
from sslterm.engine.model import CertSlot, ListenerSpec
from sslterm.engine.plan import compute
from sslterm.store import journal
from sslterm.store.db import Database, open_engine


def intent(certificates: int) -> tuple[ListenerSpec, ...]:
    """One listener with that many certificates (the deployment records it by count, with the plan's changes)."""
    return (ListenerSpec(443, certificates=tuple(CertSlot(f"c{i}", f"{i:064x}", (f"c{i}.example.test",), "EC",
                                                          chain=("b" * 64,)) for i in range(certificates))),)


def _never_abandoned(_owner: str) -> bool:
    return False


def _timed(rounds: int, step: Callable[[int], None]) -> list[float]:
    out = []
    for i in range(rounds):
        started = time.perf_counter()
        step(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure(url: str, rounds: int, certificates: int = 1) -> dict[str, float]:
    db = Database(open_engine(url))
    now = datetime.now(UTC)
    listeners = intent(certificates)
    replaced = (replace(listeners[0], certificates=(*listeners[0].certificates[:-1],
                                                    CertSlot(f"c{certificates - 1}", "f" * 64, ("x.example.test",)))),)
    plan = compute("lb", listeners, replaced, rotate_in_place=True)

    def bare(_i: int) -> None:  # what a command pays anyway: two writing transactions
        for _ in range(2):
            with db.transaction(counted=False):
                pass

    def journalled(i: int) -> None:
        lb = f"lb{i % 20}"
        with db.transaction(counted=False) as session:
            journal.take_lease(session, lb, "bench", now, _never_abandoned)
            row = journal.start(session, f"batch{i}", lb, replaced, listeners, [], "bench", now, plan=plan)
            deployment = row.id
        with db.transaction(counted=False) as session:
            journal.finish(session, [deployment], "verified", now)
            journal.release_lease(session, lb, "bench")

    _timed(20, bare), _timed(20, journalled)  # warm up the pool and the statement caches
    base, with_journal = _timed(rounds, bare), _timed(rounds, journalled)
    db.engine.dispose()
    median_base, median_journal = statistics.median(base), statistics.median(with_journal)
    return {"bare_ms": median_base, "journalled_ms": median_journal, "overhead_ms": median_journal - median_base,
            "p95_overhead_ms": sorted(with_journal)[int(rounds * 0.95)] - median_base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--certificates", type=int, action="append", default=None,
                        help="certificates on the deployed listener (repeatable; default 1 and 10,000)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.certificates = args.certificates or [1, 10_000]
    results: dict[str, dict[str, float]] = {}
    sizes = sorted(set(args.certificates))
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results[f"SQLite|{n}"] = measure(f"sqlite:///{tmp}/bench-{n}.db", args.rounds, n)
    cluster = Cluster()
    try:
        cluster.start()
        for n in sizes:
            results[f"PostgreSQL|{n}"] = measure(cluster.new_database(), args.rounds, n)
    finally:
        cluster.stop()
    print("| store | certificates on the listener | two empty writing transactions (ms, median) "
          "| with lease + journal (ms, median) | overhead per deployment (ms, median) | overhead p95 (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, r in results.items():
        store, n = key.split("|")
        print(f"| {store} | {int(n):,} | {r['bare_ms']:.2f} | {r['journalled_ms']:.2f} | {r['overhead_ms']:.2f} "
              f"| {r['p95_overhead_ms']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
