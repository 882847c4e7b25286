"""Certificate import benchmark (issue 2): bundles per second and peak memory of ``sslterm cert import DIR``.

    make bench                                       # N = 1,000, 3,000, 10,000; then the CLI once at 10,000
    .venv/bin/python bench/import_bench.py --quick   # N = 300, 1,000; CLI at 1,000 (under a minute)
    .venv/bin/python bench/import_bench.py --n 5000  # sizes of your choice (repeat --n, or 1000,5000)

For each N, three fresh subprocesses on the same corpus, so that no run pollutes another's figures:

* **sslterm** (timed): ``Service(Settings(home=<tmpdir>)).import_bundles`` fed by ``sslterm.discover.find_bundles``
  and ``Found.read``, exactly as ``sslterm cert import`` does: read, parse, every check, encrypt the key,
  write the row and the audit row, one transaction, commit. Peak memory is ``ru_maxrss`` of that process.
  Afterwards it checks that all N were added with exactly the expected warnings, that N rows and N audit rows
  are stored, and that two stored bundles decrypt and match.
* **raw** (timed): ``cryptography`` alone on the same files' bytes, already in memory:
  ``x509.load_pem_x509_certificates`` + ``load_pem_private_key`` (with the same
  ``unsafe_skip_rsa_key_validation=True`` that sslterm uses; see docs/decisions.md); median of >= 3 passes.
* **memory** (not timed): the same import under ``tracemalloc``: the Python peak, and how much of it is the
  ``ImportReport`` that ``import_bundles`` returns (one summary and its warnings per bundle).

The ratio sslterm/raw is the figure to compare across machines; absolute rates drift with the CPU. Rates are
given per wall-clock second (the issue's figure) and per CPU second (steadier on a shared, busy machine).
Then the CLI itself runs once, end to end (process start, imports, migrations, progress bar, output).

The corpus is generated once and cached under ``bench/.cache/`` (git-ignored): an RSA-2048 root and
intermediate, a pool of 64 RSA-2048 keys (generating 10,000 keys would take ~10 minutes on 2 cores), and N
unique leaves (distinct names, SANs and serials) signed by the intermediate, as ``NAME.crt`` (leaf then
intermediate) + ``NAME.key`` pairs. Every bundle is valid; since the demo root is not in the system trust
store, each one gets exactly one ``incomplete-chain`` warning, which is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
CORPUS = CACHE / "corpus"
CORPUS_VERSION = 1
KEY_POOL = 64
LEAF_DAYS = 397
MIN_DAYS_LEFT = 60  # regenerate the corpus before any leaf could get an expires-soon warning
MAX_N = 100_000
DEFAULT_SIZES = (1_000, 3_000, 10_000)
QUICK_SIZES = (300, 1_000)
RAW_MIN_PASSES, RAW_MAX_PASSES, RAW_MIN_SECONDS = 3, 50, 2.0
TARGET_RATE = 1_000.0  # bundles/s, every check on
EXPECTED_WARNINGS = {"incomplete-chain": 1}  # per bundle: the demo root is not a system root


def timeout_for(n: int) -> float:
    """Generous but bounded: set-up plus 20 ms a bundle (50 bundles/s would be a 20x regression)."""
    return 120.0 + 0.02 * n


# -- corpus ------------------------------------------------------------------------------------------------


def _manifest(directory: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _usable(manifest: dict[str, Any] | None, n: int) -> bool:
    if manifest is None or manifest.get("version") != CORPUS_VERSION or int(manifest.get("count", 0)) < n:
        return False
    now = datetime.now(UTC)
    not_before = datetime.fromisoformat(manifest["not_before"])
    not_after = datetime.fromisoformat(manifest["not_after"])
    return not_before < now and not_after - now > timedelta(days=MIN_DAYS_LEFT)


def bundle_name(i: int) -> str:
    return f"site-{i:05d}"


def generate(n: int, target: Path) -> None:
    """Write ``n`` bundles into ``target`` (which must not exist), then its manifest."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    from sslterm.demo.ca import DemoCA, new_key

    def ca_name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sslterm bench"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    class RSADemoCA(DemoCA):
        """DemoCA with an RSA-2048 root and intermediate (DemoCA's own are EC), like the RSA hierarchies of
        public CAs; ``issue`` is DemoCA's."""

        def __init__(self, name: str) -> None:
            self.now = datetime.now(UTC)
            self.root_key = new_key("rsa")
            root_name = ca_name(f"{name} root CA")
            self.root = self._sign(root_name, self.root_key.public_key(), root_name, self.root_key,
                                   ca=True, days=3650)
            self.inter_key = new_key("rsa")
            self.intermediate = self._sign(ca_name(f"{name} intermediate CA"), self.inter_key.public_key(),
                                           self.root.subject, self.root_key, ca=True, days=1825)

    started = time.perf_counter()
    print(f"generating the corpus: {KEY_POOL} RSA-2048 keys, RSA root + intermediate, {n:,} leaves "
          f"(cached in {target.parent})", file=sys.stderr, flush=True)
    ca = RSADemoCA("sslterm bench")
    pool = [new_key("rsa") for _ in range(KEY_POOL)]
    pool_pem = [k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()) for k in pool]
    chain_pem = ca.intermediate.public_bytes(serialization.Encoding.PEM)
    work = target.with_name(target.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    serials: set[int] = set()
    not_after = None
    for i in range(n):
        name = bundle_name(i)
        issued = ca.issue(f"{name}.fleet.example", f"www.{name}.fleet.example", key=pool[i % KEY_POOL],
                          days=LEAF_DAYS)
        serials.add(issued.cert.serial_number)
        not_after = issued.cert.not_valid_after_utc
        (work / f"{name}.crt").write_bytes(issued.cert_pem() + chain_pem)
        (work / f"{name}.key").write_bytes(pool_pem[i % KEY_POOL])
        if (i + 1) % 2_000 == 0:
            print(f"  {i + 1:,} leaves", file=sys.stderr, flush=True)
    if len(serials) != n:
        raise SystemExit("duplicate serial numbers in the generated corpus")
    assert not_after is not None
    (work / "root.pem").write_bytes(ca.root.public_bytes(serialization.Encoding.PEM))  # not a bundle
    manifest = {"version": CORPUS_VERSION, "count": n, "key_pool": KEY_POOL, "created": ca.now.isoformat(),
                "not_before": (ca.now - timedelta(hours=1)).isoformat(), "not_after": not_after.isoformat()}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    print(f"  done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def ensure_corpus(sizes: Sequence[int]) -> dict[int, Path]:
    """One master directory with max(sizes) bundles, and per size a directory of hard links to its first N."""
    master = CORPUS / "all"
    biggest = max(sizes)
    if not _usable(_manifest(master), biggest):
        shutil.rmtree(CORPUS, ignore_errors=True)
        generate(biggest, master)
    out = {}
    for n in sizes:
        directory = CORPUS / f"n{n}"
        if not _usable(_manifest(directory), n) or _manifest(directory) != _manifest(master) | {"count": n}:
            shutil.rmtree(directory, ignore_errors=True)
            work = directory.with_name(directory.name + ".tmp")
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            for i in range(n):
                for suffix in (".crt", ".key"):
                    source = master / f"{bundle_name(i)}{suffix}"
                    try:
                        os.link(source, work / source.name)
                    except OSError:
                        shutil.copyfile(source, work / source.name)
            manifest = _manifest(master)
            assert manifest is not None
            (work / "manifest.json").write_text(json.dumps(manifest | {"count": n}, indent=1) + "\n")
            work.rename(directory)
        out[n] = directory
    return out


# -- workers (each runs in its own process) ----------------------------------------------------------------


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _service(home: Path) -> Any:
    from sslterm.service import Service
    from sslterm.settings import Settings

    service = Service(Settings(home=home))
    # One-off set-up, timed apart: create and migrate the store, load the trust store, create the key file.
    _ = (service.db, service.anchors, service.vault)
    return service


def worker_sslterm(directory: Path, n: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from sslterm.certs.bundle import fingerprint
    from sslterm.certs.keys import public_bytes
    from sslterm.discover import find_bundles
    from sslterm.store import certificates as rows
    from sslterm.store.schema import AuditRow, CertificateRow

    with tempfile.TemporaryDirectory(prefix="sslterm-bench-") as tmp:
        started = time.perf_counter()
        service = _service(Path(tmp) / "home")
        setup = time.perf_counter() - started
        rss_before = maxrss_bytes()
        started, cpu_started = time.perf_counter(), time.process_time()
        found = list(find_bundles(directory))
        report = service.import_bundles((f.name, f.read) for f in found)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        rss_peak = maxrss_bytes()
        problems = []
        with service.db.transaction() as session:
            stored = session.scalar(select(func.count()).select_from(CertificateRow))
            audited = session.scalar(select(func.count()).select_from(AuditRow))
            for name in {bundle_name(0), bundle_name(n - 1)}:  # spot check: the stored bundle opens and matches
                row = rows.get(session, name)
                bundle = rows.load_bundle(row, service.vault) if row is not None else None
                if (bundle is None or fingerprint(bundle.leaf) != row.fingerprint or len(bundle.chain) != 1
                        or public_bytes(bundle.key) != public_bytes(bundle.leaf.public_key())):
                    problems.append(f"{name}: not stored as given")
        warnings = Counter(report.warnings)
        db_bytes = sum(p.stat().st_size for p in (Path(tmp) / "home").glob("sslterm.db*"))
    if len(found) != n or len(report.added) != n or report.refused or stored != n or audited != n:
        problems.append(f"found {len(found)}, added {len(report.added)}, refused {len(report.refused)}, "
                        f"stored {stored}, audit rows {audited}; expected {n} of each and none refused")
    if warnings != Counter({code: count * n for code, count in EXPECTED_WARNINGS.items()}):
        problems.append(f"unexpected warnings: {dict(warnings)}")
    return {"n": n, "seconds": elapsed, "cpu_seconds": cpu, "setup_seconds": setup, "rate": n / elapsed,
            "cpu_rate": n / cpu, "rss_before": rss_before, "rss_peak": rss_peak, "db_bytes": db_bytes,
            "warnings": dict(warnings), "problems": problems}


def worker_memory(directory: Path, n: int) -> dict[str, Any]:
    """Python allocations (tracemalloc) during the same import: the peak, and how much of it is the
    ImportReport that import_bundles returns (a name per bundle and a count per warning code). Slow, so
    timed nowhere; its own process, so it touches no other figure."""
    import gc
    import tracemalloc

    from sslterm.discover import find_bundles

    with tempfile.TemporaryDirectory(prefix="sslterm-bench-mem-") as tmp:
        service = _service(Path(tmp) / "home")
        found = list(find_bundles(directory))
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        report = service.import_bundles((f.name, f.read) for f in found)
        current, peak = tracemalloc.get_traced_memory()
        added = len(report.added)
        del report
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    problems = [] if added == n else [f"{added} added of {n}"]
    return {"n": n, "traced_peak": peak - base, "report_bytes": current - after, "problems": problems}


def worker_raw(directory: Path, n: int) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from sslterm.discover import find_bundles

    pairs = [(f.cert.read_bytes(), f.key.read_bytes()) for f in find_bundles(directory)]
    rss_before = maxrss_bytes()
    # One pass is short (well under a second at N=10,000), so repeat it and take the median pass.
    walls: list[float] = []
    cpus: list[float] = []
    certs = 0
    while len(walls) < RAW_MIN_PASSES or (sum(walls) < RAW_MIN_SECONDS and len(walls) < RAW_MAX_PASSES):
        certs = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        for cert_pem, key_pem in pairs:
            certs += len(x509.load_pem_x509_certificates(cert_pem))
            load_pem_private_key(key_pem, None, unsafe_skip_rsa_key_validation=True)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    elapsed, cpu = statistics.median(walls), statistics.median(cpus)
    problems = [] if len(pairs) == n and certs == 2 * n else [f"{len(pairs)} bundles, {certs} certificates"]
    return {"n": n, "seconds": elapsed, "cpu_seconds": cpu, "rate": n / elapsed, "cpu_rate": n / cpu,
            "passes": len(walls), "rss_before": rss_before, "rss_peak": maxrss_bytes(), "problems": problems}


WORKERS = {"sslterm": worker_sslterm, "raw": worker_raw, "memory": worker_memory}


# -- driver ------------------------------------------------------------------------------------------------


@dataclass
class Child:
    returncode: int
    seconds: float
    maxrss: int  # bytes, from wait4: this child alone
    cpu_seconds: float  # user + system, from wait4
    stdout: str
    stderr: str


def run_child(command: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> Child:
    """Run ``command`` with a hard time limit; its own peak RSS comes from wait4, not RUSAGE_CHILDREN
    (which is the maximum over every child so far)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        child = Child(proc.returncode, seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if seconds >= timeout:
        raise SystemExit(f"timed out after {timeout:.0f} s: {' '.join(command)}")
    return child


def run_worker(kind: str, directory: Path, n: int) -> dict[str, Any]:
    child = run_child([sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--dir", str(directory),
                       "--n", str(n)], timeout=timeout_for(n))
    if child.returncode != 0:
        raise SystemExit(f"{kind} worker for N={n} failed ({child.returncode}):\n{child.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    result["child_maxrss"] = child.maxrss
    return result


def sslterm_command() -> list[str]:
    script = Path(sys.executable).with_name("sslterm")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sslterm"]


def run_cli(directory: Path, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sslterm-bench-cli-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSLTERM_")}
        env["SSLTERM_HOME"] = str(Path(tmp) / "home")
        child = run_child([*sslterm_command(), "cert", "import", str(directory)], timeout=timeout_for(n), env=env)
    summary = re.search(r"(\d+) added, (\d+) refused, (\d+) found", child.stdout)
    problems = []
    if child.returncode != 0 or summary is None or summary.groups() != (str(n), "0", str(n)):
        problems.append(f"exit {child.returncode}; stdout {child.stdout[-300:]!r}; stderr {child.stderr[-300:]!r}")
    return {"n": n, "seconds": child.seconds, "rate": n / child.seconds, "cpu_seconds": child.cpu_seconds,
            "cpu_rate": n / child.cpu_seconds, "maxrss": child.maxrss, "problems": problems}


def machine() -> dict[str, str]:
    import cryptography
    import sqlalchemy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    openssl = "unknown"
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
        openssl = backend.openssl_version_text()
    except Exception:  # noqa: S110 - informational only
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "cryptography": cryptography.__version__, "openssl": openssl, "sqlalchemy": sqlalchemy.__version__,
            "platform": platform.platform(), "loadavg": load_average()}


def mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def report(runs: list[dict[str, Any]], cli: dict[str, Any] | None, facts: dict[str, str]) -> list[str]:
    lines = [f"machine: {facts['nproc']} x {facts['cpu']}; Python {facts['python']}, cryptography "
             f"{facts['cryptography']} ({facts['openssl']}), SQLAlchemy {facts['sqlalchemy']}; "
             f"load average {facts['loadavg']} before, {load_average()} after", "",
             "| N | sslterm bundles/s | raw cryptography bundles/s | ratio | sslterm bundles/CPU-s "
             "| raw bundles/CPU-s | CPU-time ratio | peak RSS MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        mine, raw = run["sslterm"], run["raw"]
        lines.append(f"| {mine['n']:,} | {mine['rate']:,.0f} | {raw['rate']:,.0f} | {mine['rate'] / raw['rate']:.3f} "
                     f"| {mine['cpu_rate']:,.0f} | {raw['cpu_rate']:,.0f} | {mine['cpu_rate'] / raw['cpu_rate']:.3f} "
                     f"| {mib(mine['rss_peak'])} |")
    lines += ["", "| N | RSS before import MiB | peak RSS MiB | growth MiB | Python peak during import MiB "
              "| of which the returned ImportReport MiB | report bytes/bundle | peak without the report MiB |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        mine, mem = run["sslterm"], run["memory"]
        lines.append(f"| {mine['n']:,} | {mib(mine['rss_before'])} | {mib(mine['rss_peak'])} "
                     f"| {mib(mine['rss_peak'] - mine['rss_before'])} | {mib(mem['traced_peak'])} "
                     f"| {mib(mem['report_bytes'])} | {mem['report_bytes'] / mine['n']:,.0f} "
                     f"| {mib(mem['traced_peak'] - mem['report_bytes'])} |")
    if cli:
        lines += ["", f"CLI end to end (`sslterm cert import DIR`, N={cli['n']:,}, process start-up included): "
                  f"{cli['seconds']:.2f} s = {cli['rate']:,.0f} bundles/s; {cli['cpu_seconds']:.2f} CPU-s = "
                  f"{cli['cpu_rate']:,.0f} bundles/CPU-s; peak RSS {mib(cli['maxrss'])} MiB"]
    return lines


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", action="append", default=None, metavar="N[,N...]",
                        help=f"bundle counts to run (default {', '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes ({', '.join(map(str, QUICK_SIZES))}) for a smoke test")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 below {TARGET_RATE:,.0f} bundles/s")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        n = int(args.n[0])
        print(json.dumps(WORKERS[args.worker](args.dir, n)))
        return 0

    if args.n:
        sizes = sorted({int(v) for item in args.n for v in item.split(",") if v.strip()})
    else:
        sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if not sizes or sizes[0] < 1 or sizes[-1] > MAX_N:
        parser.error(f"each N must be between 1 and {MAX_N:,}")

    corpus = ensure_corpus(sizes)
    facts = machine()
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    for n in sizes:
        run = {kind: run_worker(kind, corpus[n], n) for kind in ("sslterm", "raw", "memory")}
        problems += [f"N={n} {kind}: {p}" for kind, result in run.items() for p in result["problems"]]
        runs.append(run)
        mine, raw = run["sslterm"], run["raw"]
        print(f"N={n:>6,}: sslterm {mine['rate']:7,.0f}/s, raw {raw['rate']:7,.0f}/s, "
              f"ratio {mine['rate'] / raw['rate']:.3f} (CPU-time ratio {mine['cpu_rate'] / raw['cpu_rate']:.3f}), "
              f"peak RSS {mib(mine['rss_peak'])} MiB", file=sys.stderr, flush=True)
    cli = None
    if not args.no_cli:
        cli = run_cli(corpus[sizes[-1]], sizes[-1])
        problems += [f"CLI: {p}" for p in cli["problems"]]
    print("\n".join(report(runs, cli, facts)))

    largest, smallest = runs[-1]["sslterm"], runs[0]["sslterm"]
    verdict = "met" if largest["rate"] >= TARGET_RATE else "NOT met"
    print(f"\ntarget {TARGET_RATE:,.0f} bundles/s at N={largest['n']:,} with every check on: {verdict} "
          f"({largest['rate']:,.0f}/s wall clock, {largest['cpu_rate']:,.0f}/s of CPU time)")
    if len(runs) > 1:
        growth = largest["rss_peak"] - smallest["rss_peak"]
        per_bundle = growth / (largest["n"] - smallest["n"])
        big, small = runs[-1]["memory"], runs[0]["memory"]
        rest = (big["traced_peak"] - big["report_bytes"]) - (small["traced_peak"] - small["report_bytes"])
        print(f"peak RSS from N={smallest['n']:,} to N={largest['n']:,}: {mib(smallest['rss_peak'])} -> "
              f"{mib(largest['rss_peak'])} MiB ({per_bundle:,.0f} bytes per extra bundle); the returned report "
              f"holds {big['report_bytes'] / big['n']:,.0f} bytes per bundle; Python peak without it changes by "
              f"{rest / 2**20:+.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "runs": runs, "cli": cli, "problems": problems},
                                        indent=1) + "\n")
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    if problems:
        return 1
    return 1 if args.strict and verdict != "met" else 0


if __name__ == "__main__":
    sys.exit(main())
