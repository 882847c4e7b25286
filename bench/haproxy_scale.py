"""HAProxy benchmark 2 (issue 3): one certificate change when HAProxy already holds N certificates.

    .venv/bin/python bench/haproxy_scale.py             # N = 100, 1,000, 10,000 (about 4 minutes here)
    .venv/bin/python bench/haproxy_scale.py --quick     # N = 100, 1,000 (about 40 s)
    .venv/bin/python bench/haproxy_scale.py --n 3000    # sizes of your choice (repeat --n, or 100,3000)

For each N, a managed HAProxy (sslterm's provider, generated configuration, ``nbthread`` left at its default
= the CPUs) gets one TLS listener on 127.0.0.1 holding N ECDSA P-256 certificates (a fresh key each: with
``cryptography`` that costs about 0.15 ms a certificate, so no key sharing is needed), each with one DNS name
and so one explicit SNI filter in sslterm's crt-list. The state is built through the provider API (N
``upload`` + one ``bind`` with a ListenerSpec of N CertSlots), not N CLI calls. Then, one after another:

* **start-up**: stop HAProxy (by its master's pid), start it again (``Process.start``, as sslterm does) and
  handshake until it answers: time and VmRSS of the master and the worker;
* **replace** (runtime path): ``provider.upload`` + ``provider.bind`` with one certificate's content
  changed (same name and DNS name), the engine's provider call; then handshakes with that SNI until the new
  certificate shows. Timed from the call to that first handshake;
* **add** (runtime path): the same for a new SNI certificate appended to the listener;
* **Applier** (the whole engine step, ``Applier.apply(compute(...))``, as ``sslterm cert add --replace`` runs
  it): another replacement, timed to the engine's own first handshake showing it and to its return. The
  Applier verifies *every* certificate of the listener after a change (``--applier-max`` bounds the N it is
  run at);
* **validated reload**: the same replacement with the listener's HSTS setting toggled, so the configuration
  changes and the provider takes its reload path: ``haproxy -c`` on a candidate copy, write, master-worker
  reload; timed to the first handshake showing the new certificate, with the check and the reload timed
  apart, and the VmRSS of every HAProxy process of this load balancer sampled every 20 ms from /proc
  (peak of master + workers, and peak including the ``haproxy -c`` process) until the old worker is gone.

The CLI's own start-up is measured apart: ``sslterm --help`` and a no-op ``sslterm cert list`` (on an empty
store that already exists), each the median of 5 runs, beside ``python -c pass`` and the import time of the
heaviest modules it loads. Target: a replaced or new certificate served within 100 ms, flat in N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from haproxy_common import (
    HAPROXY,
    LOCALHOST,
    MachineCPU,
    RSSSampler,
    haproxy_roles,
    machine,
    machine_line,
    make_slot,
    median,
    mib,
    rss_kib,
    stop_leftovers,
    wait_quiet,
    wait_served,
)

DEFAULT_SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
MAX_N = 20_000
TARGET_MS = 100.0
DOMAIN = "scale.bench.test"


def host(i: int | str) -> str:
    return f"h{i}.{DOMAIN}"


class Timed:
    """Wraps a bound method of one object and adds up the seconds spent in it."""

    def __init__(self, owner: object, name: str) -> None:
        self.seconds = 0.0
        original: Callable[..., Any] = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(owner, name, wrapper)
        self.restore: Callable[[], None] = lambda: setattr(owner, name, original)


def one_size(n: int, port: int, applier_max: int) -> dict[str, Any]:
    from sslterm.demo.ca import DemoCA
    from sslterm.engine import verify as verify_module
    from sslterm.engine.apply import Applier
    from sslterm.engine.model import ListenerSpec, ProbeTarget, Served
    from sslterm.engine.plan import compute
    from sslterm.engine.probe import probe
    from sslterm.providers.haproxy import create

    out: dict[str, Any] = {"n": n}
    ca = DemoCA("sslterm scale bench")
    started = time.perf_counter()
    slots = [make_slot(ca, f"c{i:05d}", (host(i),)) for i in range(n)]
    out["generate_s"] = time.perf_counter() - started
    k = n // 2  # the certificate that gets replaced
    with tempfile.TemporaryDirectory(prefix=f"sslterm-bench-scale-{n}-") as tmp:
        root = Path(tmp) / "lb"
        provider = create("scale", {"bind": f"{LOCALHOST}:{port}", "backends": [f"{LOCALHOST}:9"]}, root,
                          {"haproxy_binary": HAPROXY})
        try:
            provider.start()  # plain configuration, no TLS listener yet
            listener = ListenerSpec(port, certificates=tuple(slots))  # type: ignore[arg-type]
            started = time.perf_counter()
            refs = {s.fingerprint: provider.upload(s) for s in slots}  # type: ignore[attr-defined]
            out["upload_s"] = time.perf_counter() - started
            started = time.perf_counter()
            provider.bind(listener, refs)
            out["build_bind_s"] = time.perf_counter() - started
            wait_served(port, host(k), slots[k].fingerprint)  # type: ignore[attr-defined]

            # -- start-up with N certificates -------------------------------------------------------------
            provider.process.stop()
            with RSSSampler(str(root)) as sampler:
                started = time.monotonic()
                provider.process.start(wait=300)
                first = wait_served(port, None, slots[0].fingerprint)  # type: ignore[attr-defined]
            out["startup_s"] = first - started
            roles = haproxy_roles(str(root))
            out["master_rss_kib"] = sum(rss_kib(p) for p in roles["master"])
            out["worker_rss_kib"] = sum(rss_kib(p) for p in roles["worker"])
            out["startup_peak_kib"] = sampler.peak_serving

            def change(new_listener: ListenerSpec, sni: str, fingerprint: str) -> dict[str, Any]:
                new_refs = {s.fingerprint: provider.upload(s) for s in new_listener.certificates
                            if s.material is not None and s.fingerprint not in refs}
                t0 = time.monotonic()
                provider.bind(new_listener, refs | new_refs)
                t1 = time.monotonic()
                seen = wait_served(port, sni, fingerprint)
                refs.update(new_refs)
                return {"bind_ms": (t1 - t0) * 1000, "first_ms": (seen - t0) * 1000, "path": provider.last_path}

            # -- runtime replace and add, through the provider (the engine's provider calls) ---------------
            new_k = make_slot(ca, slots[k].name, (host(k),))  # type: ignore[attr-defined]
            listener = replace(listener, certificates=(*listener.certificates[:k], new_k,
                                                       *listener.certificates[k + 1:]))
            out["replace"] = change(listener, host(k), new_k.fingerprint)  # type: ignore[attr-defined]
            added = make_slot(ca, "new-a", (host("new-a"),))
            listener = replace(listener, certificates=(*listener.certificates, added))
            out["add"] = change(listener, host("new-a"), added.fingerprint)  # type: ignore[attr-defined]

            # -- the whole engine step (plan + Applier, with its verification of every certificate) --------
            if n <= applier_max:
                newer = make_slot(ca, slots[k].name, (host(k),))  # type: ignore[attr-defined]
                wanted = replace(listener, certificates=(*listener.certificates[:k], newer,
                                                         *listener.certificates[k + 1:]))
                probes = {"count": 0, "first": 0.0}

                def prober(target: ProbeTarget) -> Served:
                    result = probe(target)
                    probes["count"] += 1
                    if result.ok and target.certificate == newer.name and not probes["first"]:  # type: ignore
                        probes["first"] = time.monotonic()
                    return result

                targets = Timed(verify_module, "probe_targets")  # the Applier's own calls, timed
                bound = {"at": 0.0}
                original_bind = provider.bind

                def bind(*args: Any, **kwargs: Any) -> None:
                    original_bind(*args, **kwargs)
                    bound["at"] = time.monotonic()

                provider.bind = bind  # type: ignore[method-assign]
                t0 = time.monotonic()
                Applier(provider, verify_within=300, prober=prober).apply(compute("scale", provider.observe().listeners,
                                                                                  [wanted]))
                done = time.monotonic()
                del provider.bind
                targets.restore()
                out["applier"] = {"total_ms": (done - t0) * 1000, "first_ms": (probes["first"] - t0) * 1000,
                                  "bind_ms": (bound["at"] - t0) * 1000,
                                  "probes": probes["count"], "probe_targets_ms": targets.seconds * 1000,
                                  "path": provider.last_path}
                listener = wanted
            # -- the same replacement forced down the validated-reload path ---------------------------------
            check = Timed(provider, "_check_candidate")
            reload = Timed(provider.process, "reload")
            latest = make_slot(ca, slots[k].name, (host(k),))  # type: ignore[attr-defined]
            wanted = replace(listener, hsts=not listener.hsts,
                             certificates=(*listener.certificates[:k], latest, *listener.certificates[k + 1:]))
            with RSSSampler(str(root)) as sampler:
                before = haproxy_roles(str(root))
                result = change(wanted, host(k), latest.fingerprint)  # type: ignore[attr-defined]
                t_served = time.monotonic()
                deadline = t_served + 60
                while time.monotonic() < deadline and set(before["worker"]) & set(haproxy_roles(str(root))["worker"]):
                    time.sleep(0.05)
                result["old_worker_gone_s"] = time.monotonic() - t_served
            result |= {"check_ms": check.seconds * 1000, "reload_ms": reload.seconds * 1000,
                       "peak_serving_kib": sampler.peak_serving, "peak_total_kib": sampler.peak_total,
                       "peak_processes": sampler.peak_processes, "samples": sampler.samples}
            out["reload"] = result
        finally:
            provider.stop()
            left = stop_leftovers(str(root))
            if left:
                print(f"WARNING: stopped leftover processes {left}", file=sys.stderr)
    return out


# -- the CLI's own start-up -----------------------------------------------------------------------------------


def timed_runs(command: Sequence[str], env: dict[str, str], runs: int = 5) -> tuple[float, int]:
    """Median wall seconds of ``runs`` runs, and the largest peak RSS (KiB). The RSS comes from GNU time,
    which forks the command itself: a child forked from this (large) process would report this process's RSS
    as its own peak (Linux keeps the high-water mark across exec)."""
    times, peak = [], 0
    gnu_time = Path("/usr/bin/time")
    with tempfile.TemporaryDirectory(prefix="sslterm-bench-time-") as tmp:
        report = Path(tmp) / "rss"
        for _ in range(runs):
            wrapped = [str(gnu_time), "-f", "%M", "-o", str(report), *command] if gnu_time.exists() else command
            started = time.perf_counter()
            done = subprocess.run(list(wrapped), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  check=False, timeout=120)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed")
            if gnu_time.exists():
                peak = max(peak, int(report.read_text().split()[-1]))
    return median(times), peak


def cli_startup() -> dict[str, Any]:
    script = Path(sys.executable).with_name("sslterm")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "sslterm"]
    with tempfile.TemporaryDirectory(prefix="sslterm-bench-cli-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}
        env["SSLTERM_HOME"] = str(Path(tmp) / "home")
        out: dict[str, Any] = {}
        started = time.perf_counter()
        subprocess.run([*command, "cert", "list"], env=env, capture_output=True, check=True)
        out["first cert list (creates the store)"] = (time.perf_counter() - started, 0)
        out["sslterm --help"] = timed_runs([*command, "--help"], env)
        out["sslterm cert list (empty store)"] = timed_runs([*command, "cert", "list"], env)
        out["python -c pass"] = timed_runs([sys.executable, "-c", "pass"], env)
        for module in ("sslterm.cli", "sqlalchemy.orm", "alembic.command", "typer", "rich.console",
                       "cryptography.x509"):
            out[f"python -c 'import {module}'"] = timed_runs([sys.executable, "-c", f"import {module}"], env)
    return out


# -- report ---------------------------------------------------------------------------------------------------


def report(results: list[dict[str, Any]], cli: dict[str, Any] | None, facts: dict[str, str]) -> list[str]:
    lines = [machine_line(facts), "",
             "Runtime path (engine's provider call to the first handshake that shows the certificate):", "",
             "| N | replace: first handshake ms | replace: bind ms | add: first handshake ms | add: bind ms "
             "| path |", "|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['n']:,} | {r['replace']['first_ms']:.1f} | {r['replace']['bind_ms']:.1f} "
                     f"| {r['add']['first_ms']:.1f} | {r['add']['bind_ms']:.1f} "
                     f"| {r['replace']['path']} / {r['add']['path']} |")
    if any("applier" in r for r in results):
        lines += ["", "The whole engine step (plan + Applier.apply, which verifies every certificate):", "",
                  "| N | provider.bind returned ms | engine's first handshake showing it ms | Applier.apply returns ms "
                  "| handshakes made | of which probe_targets() ms | path |", "|---:|---:|---:|---:|---:|---:|---|"]
        for r in results:
            if "applier" in r:
                a = r["applier"]
                lines.append(f"| {r['n']:,} | {a['bind_ms']:.0f} | {a['first_ms']:,.0f} | {a['total_ms']:,.0f} "
                             f"| {a['probes']:,} "
                             f"| {a['probe_targets_ms']:,.0f} | {a['path']} |")
    lines += ["", "Validated reload of the same change (haproxy -c on a candidate copy + master-worker reload):", "",
              "| N | first handshake s | of which haproxy -c s | of which reload s | runtime / reload "
              "| old worker gone after s | peak RSS master+workers MiB | peak RSS incl. haproxy -c MiB "
              "| steady RSS MiB |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rl = r["reload"]
        steady = r["master_rss_kib"] + r["worker_rss_kib"]
        lines.append(f"| {r['n']:,} | {rl['first_ms'] / 1000:.2f} | {rl['check_ms'] / 1000:.2f} "
                     f"| {rl['reload_ms'] / 1000:.2f} | 1 : {rl['first_ms'] / r['replace']['first_ms']:,.0f} "
                     f"| {rl['old_worker_gone_s']:.2f} | {mib(rl['peak_serving_kib'])} "
                     f"| {mib(rl['peak_total_kib'])} | {mib(steady)} |")
    lines += ["", "HAProxy start-up with sslterm's layout (one crt-list, explicit SNI filters):", "",
              "| N | certificates generated s | N uploads s | first bind (check + start) s | start-up to first "
              "handshake s | master RSS MiB | worker RSS MiB | machine CPU busy (whole N) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['n']:,} | {r['generate_s']:.2f} | {r['upload_s']:.2f} | {r['build_bind_s']:.2f} "
                     f"| {r['startup_s']:.2f} | {mib(r['master_rss_kib'])} | {mib(r['worker_rss_kib'])} "
                     f"| {r['machine_busy']:.0%} |")
    if cli:
        lines += ["", "CLI start-up (median of 5 runs):", "", "| command | wall s | peak RSS MiB |",
                  "|---|---:|---:|"]
        for name, (seconds, rss) in cli.items():
            lines.append(f"| `{name}` | {seconds:.3f} | {mib(rss) if rss else '-'} |")
    worst = max(max(r["replace"]["first_ms"], r["add"]["first_ms"]) for r in results)
    spread = [r["replace"]["first_ms"] for r in results]
    lines += ["", f"target (replace and add served within {TARGET_MS:.0f} ms at every N): "
              f"{'met' if worst <= TARGET_MS else 'NOT met'} (worst {worst:.1f} ms; replace from "
              f"{spread[0]:.1f} ms at N={results[0]['n']:,} to {spread[-1]:.1f} ms at N={results[-1]['n']:,})"]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", action="append", default=None, metavar="N[,N...]",
                        help=f"certificate counts (default {', '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--quick", action="store_true", help=f"N = {', '.join(map(str, QUICK_SIZES))}")
    parser.add_argument("--applier-max", type=int, default=None,
                        help="run the full Applier step only up to this N (default: every N; 1,000 with --quick)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI start-up figures")
    parser.add_argument("--port", type=int, default=0, help="TLS port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--wait-quiet", type=float, default=60.0,
                        help="first wait up to this many seconds for the machine to be idle (default 60)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.n:
        sizes = sorted({int(v) for item in args.n for v in item.split(",") if v.strip()})
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if not sizes or sizes[0] < 2 or sizes[-1] > MAX_N:
        parser.error(f"each N must be between 2 and {MAX_N:,}")
    applier_max = args.applier_max if args.applier_max is not None else (1_000 if args.quick else MAX_N)
    from haproxy_common import free_port

    facts = machine()
    wait_quiet(args.wait_quiet)
    results = []
    for n in sizes:
        started = time.perf_counter()
        with MachineCPU() as cpu:
            result = one_size(n, args.port or free_port(), applier_max)
        result["machine_busy"] = cpu.share
        results.append(result)
        print(f"N={n:>6,}: replace {result['replace']['first_ms']:.1f} ms, add {result['add']['first_ms']:.1f} ms, "
              f"reload {result['reload']['first_ms'] / 1000:.2f} s; start-up {result['startup_s']:.2f} s "
              f"({time.perf_counter() - started:.0f} s for this N)", file=sys.stderr, flush=True)
    cli = None if args.no_cli else cli_startup()
    print("\n".join(report(results, cli, facts)))
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "runs": results, "cli": cli}, indent=1) + "\n")
    problems = [f"N={r['n']}: {what} went live by {r[what]['path']}" for r in results for what in ("replace", "add")
                if r[what]["path"] != "runtime"]
    problems += [f"N={r['n']}: reload went live by {r['reload']['path']}" for r in results
                 if r["reload"]["path"] != "reload"]
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
