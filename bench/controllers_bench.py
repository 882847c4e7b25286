"""Benchmark (issue 7, "Controllers"): two controllers of one PostgreSQL store rotating certificates at
once, on different load balancers and on the same one, side by side with one controller alone.

    .venv/bin/python bench/controllers_bench.py [--rotations 30] [--latency 0.005] [--json FILE]

Each controller is a process of its own with its own data directory (so its own controller id), running
``Service.add_certificate(NAME, bundle, replace=True)`` in a loop (``sslterm cert add NAME --replace``);
all of them start at one signal. PostgreSQL is a throw-away cluster on 127.0.0.1 (``tests/pgcluster.py``:
``fsync=off``, so commits cost less than on a durable server). Two kinds of load balancer:

* **cloud-like** (``bench/filecloud.py``): no owner, any controller changes it (as ELB or Rackspace); one
  shared state file, each API call ``--latency`` seconds, verification by read-back. Two controllers on one
  of them serialise on its lease: a command that finds it leased is refused (``lb-busy``), and the
  benchmark tries it again after 10-20 ms, as a script would. Every refusal is counted.
* **HAProxy** (managed, real handshakes): it belongs to the controller that added it, so "two controllers
  on different load balancers" is each rotating on its own; on the same one, the other controller's changes
  are recorded as pending, and the owner applies them (``Service.apply``), timed apart.

Lease overhead per deployment is ``bench/journal_bench.py`` (SQLite and PostgreSQL), run by ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from haproxy_common import HAPROXY, LOCALHOST, free_port, machine, machine_line, median, percentile, stop_leftovers

SECRET = "the controllers benchmark's shared secret key, 32+ characters"  # noqa: S105 - a throw-away store
CERTS = {"cl1": ("c1a", "c1b", "c1c", "c1d"), "cl2": ("c2a", "c2b", "c2c", "c2d"), "hx1": ("h1a", "h1b"),
         "hx2": ("h2a", "h2b")}


# -- in each controller process ------------------------------------------------------------------------------
def controller(spec: dict[str, Any]) -> dict[str, Any]:
    from cryptography import x509

    from filecloud import KIND, FileCloud
    from sslterm.certs import BundleInput
    from sslterm.errors import Busy
    from sslterm.providers import registry
    from sslterm.service import Service
    from sslterm.settings import Settings

    shared, home = Path(spec["shared"]), Path(spec["home"])
    root = x509.load_pem_x509_certificate((shared / "root.pem").read_bytes())

    def provider(name: str, kind: str, options: dict[str, Any]) -> Any:
        if kind == KIND:
            return FileCloud(name, shared / "cloud", spec["latency"])
        create, _ = registry.lookup(kind)
        return create(name, options, home / "lb" / name, {"haproxy_binary": HAPROXY})

    svc = Service(Settings(home=home, database_url=spec["url"], secret_key=SECRET, haproxy_binary=HAPROXY),
                  anchors=(root,), verify_within=15.0, provider_factory=provider)

    def bundle(name: str, i: int) -> BundleInput:
        folder = shared / "bundles" / name
        return BundleInput(cert=(folder / f"{i}.crt").read_bytes(), chain=(folder / f"{i}.chain").read_bytes(),
                           key=(folder / f"{i}.key").read_bytes())

    for lb, port in spec.get("add", {}).items():  # a HAProxy of its own: it is its owner
        for name in CERTS[lb]:
            svc.add_certificate(name, bundle(name, 0))
        svc.add_load_balancer(lb, "haproxy", {"bind": f"{LOCALHOST}:{port}", "backends": [f"{LOCALHOST}:9"]})
        for name in CERTS[lb]:
            svc.enable(lb, name, lb_port=port)
    if spec.get("stop"):
        for lb in spec["stop"]:
            with svc.db.transaction(write=False) as session:
                svc.provider(svc.ctx.lb(session, lb)).stop(keep_files=True)
        return {}
    Path(spec["ready"]).touch()
    deadline = time.monotonic() + 60
    while not Path(spec["go"]).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    if spec.get("apply"):
        started = time.perf_counter()
        svc.apply()
        return {"apply_s": time.perf_counter() - started}
    attempts: list[tuple[float, float, str]] = []
    limit = time.monotonic() + spec["max_seconds"]
    for i in range(spec["rotations"]):
        name = spec["certs"][i % len(spec["certs"])]
        item = bundle(name, spec["first"] + i)
        while time.monotonic() < limit:
            started = time.time()
            try:
                added = svc.add_certificate(name, item, replace=True)
            except Busy:
                attempts.append((started, time.time(), "busy"))
                time.sleep(0.01 + random.random() * 0.01)
                continue
            attempts.append((started, time.time(), "pending" if added.waiting else "done"))
            break
    return {"attempts": attempts}


# -- the driver ----------------------------------------------------------------------------------------------
def prepare(shared: Path, rotations: int) -> Any:
    """The CA and every bundle the controllers will use (bundle 0 is the first version of each)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from sslterm.demo.ca import DemoCA

    ca = DemoCA("sslterm controllers bench")
    (shared / "root.pem").write_bytes(ca.root.public_bytes(Encoding.PEM))
    (shared / "cloud").mkdir()
    for names in CERTS.values():
        for name in names:
            folder = shared / "bundles" / name
            folder.mkdir(parents=True)
            for i in range(3 * rotations + 1):
                issued = ca.issue(f"{name}.controllers.bench.test")
                for suffix, data in (("crt", issued.cert_pem()), ("chain", issued.chain_pem()),
                                     ("key", issued.key_pem())):
                    (folder / f"{i}.{suffix}").write_bytes(data)
    return ca


def cloud_store(shared: Path, url: str) -> None:
    """The cloud-like load balancers cl1 and cl2 (no owner), their certificates enabled, deployed."""
    from datetime import UTC, datetime

    from cryptography import x509

    from filecloud import KIND, FileCloud
    from sslterm.certs import BundleInput
    from sslterm.service import Service
    from sslterm.settings import Settings
    from sslterm.store import loadbalancers as lb_rows
    from sslterm.store.schema import LoadBalancerRow

    root = x509.load_pem_x509_certificate((shared / "root.pem").read_bytes())
    svc = Service(Settings(home=shared / "setup", database_url=url, secret_key=SECRET), anchors=(root,),
                  provider_factory=lambda name, kind, options: FileCloud(name, shared / "cloud", 0.0))
    now = datetime.now(UTC)
    for lb in ("cl1", "cl2"):
        for name in CERTS[lb]:
            folder = shared / "bundles" / name
            svc.add_certificate(name, BundleInput(cert=(folder / "0.crt").read_bytes(),
                                                  chain=(folder / "0.chain").read_bytes(),
                                                  key=(folder / "0.key").read_bytes()))
        with svc.db.transaction() as session:
            row = LoadBalancerRow(name=lb, kind=KIND, options={}, created_at=now, owner=None)
            session.add(row)
            session.flush()
            for name in CERTS[lb]:
                lb_rows.add_termination(session, row, svc.ctx.cert(session, name), 443,
                                        {"instance_port": None, "instance_protocol": "HTTP", "redirect_http": False,
                                         "hsts": False, "tls_profile": "intermediate"}, now)
    svc.apply()
    svc.close()


def run_controller(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--controller", json.dumps(spec)],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"controller failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def scenario(shared: Path, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start every controller, let them set up, then give one start signal; their results."""
    go = shared / f"go-{time.monotonic_ns()}"
    procs = []
    for i, spec in enumerate(specs):
        spec = spec | {"shared": str(shared), "go": str(go), "ready": str(shared / f"ready-{go.name}-{i}")}
        procs.append((spec, subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--controller",
                                              json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             text=True)))
    try:
        deadline = time.monotonic() + 300
        while not all(Path(s["ready"]).exists() for s, _ in procs):
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for _, p in procs):
                raise SystemExit("a controller did not get ready: " + "".join(p.communicate()[1][-2000:]
                                                                              for _, p in procs if p.poll()))
            time.sleep(0.01)
        go.touch()
        out = []
        for _, proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            if proc.returncode != 0:
                raise SystemExit(f"controller failed:\n{stderr[-3000:]}")
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    attempts = [a for r in results for a in r["attempts"]]
    done = [a for a in attempts if a[2] != "busy"]
    wall = max(a[1] for a in attempts) - min(a[0] for a in attempts)
    latencies = [(a[1] - a[0]) * 1000 for a in done]
    return {"rotations": len(done), "busy": len(attempts) - len(done), "wall_s": wall,
            "per_s": len(done) / wall, "median_ms": median(latencies), "p95_ms": percentile(latencies, 95),
            "per_controller": [sum(1 for a in r["attempts"] if a[2] != "busy") for r in results]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rotations", type=int, default=30, help="rotations per controller (default 30)")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds per cloud API call (default 0.005)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--controller", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.controller:
        print(json.dumps(controller(json.loads(args.controller))))
        return 0
    if not 1 <= args.rotations <= 500:
        parser.error("--rotations must be 1..500")
    from pgcluster import Cluster

    k, rows, cluster, url = args.rotations, {}, Cluster(), ""
    with tempfile.TemporaryDirectory(prefix="sslterm-bench-ctl-") as tmp:
        shared = Path(tmp)
        try:
            cluster.start()
            prepare(shared, k)
            url = cluster.new_database()
            cloud_store(shared, url)
            base = {"url": url, "latency": args.latency, "rotations": k, "max_seconds": 300, "cloud": True}
            homes = {w: str(shared / w) for w in ("w1", "w2")}

            def ctl(w: str, certs: tuple[str, ...], first: int, **more: Any) -> dict[str, Any]:
                return base | {"home": homes[w], "certs": list(certs), "first": first} | more

            rows["cloud: 1 controller, 1 load balancer"] = summarise(scenario(shared, [ctl("w1", CERTS["cl1"], 1)]))
            rows["cloud: 2 controllers, 2 load balancers"] = summarise(scenario(shared, [
                ctl("w1", CERTS["cl1"], 1 + k), ctl("w2", CERTS["cl2"], 1)]))
            rows["cloud: 2 controllers, the same load balancer"] = summarise(scenario(shared, [
                ctl("w1", CERTS["cl1"][:2], 1 + 2 * k), ctl("w2", CERTS["cl1"][2:], 1 + 2 * k)]))
            ports = {"hx1": free_port(), "hx2": free_port()}
            hx = base | {"cloud": False}
            rows["HAProxy: 1 controller, its own"] = summarise(scenario(shared, [
                hx | {"home": homes["w1"], "certs": list(CERTS["hx1"]), "first": 1, "add": {"hx1": ports["hx1"]}}]))
            rows["HAProxy: 2 controllers, each its own"] = summarise(scenario(shared, [
                hx | {"home": homes["w1"], "certs": list(CERTS["hx1"]), "first": 1 + k},
                hx | {"home": homes["w2"], "certs": list(CERTS["hx2"]), "first": 1, "add": {"hx2": ports["hx2"]}}]))
            pending = summarise(scenario(shared, [hx | {"home": homes["w2"], "certs": list(CERTS["hx1"]),
                                                        "first": 1 + 2 * k}]))
            applied = scenario(shared, [hx | {"home": homes["w1"], "apply": True}])[0]
            rows["HAProxy: the other controller records changes to the owner's (pending)"] = pending | {
                "apply_s": applied["apply_s"]}
        finally:
            for w, lbs in (("w1", ["hx1"]), ("w2", ["hx2"])):
                if url and (shared / w / "lb" / lbs[0]).exists():
                    try:
                        run_controller({"home": str(shared / w), "url": url, "shared": str(shared), "cloud": False,
                                        "latency": 0, "stop": lbs})
                    except (SystemExit, subprocess.SubprocessError) as exc:
                        print(f"WARNING: stopping {lbs}: {exc}", file=sys.stderr)
            left = stop_leftovers(str(shared))
            if left:
                print(f"WARNING: stopped leftover processes {left}", file=sys.stderr)
            cluster.stop()
    print(machine_line(machine()) + f"; cloud API latency {args.latency * 1000:.0f} ms a call; {k} rotations a "
          "controller\n")
    print("| scenario | rotations | lb-busy refusals (retried) | wall s | rotations/s | per rotation median / p95 ms "
          "| per controller |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, r in rows.items():
        extra = f"; owner's `apply` of all: {r['apply_s'] * 1000:.0f} ms" if "apply_s" in r else ""
        print(f"| {name} | {r['rotations']} | {r['busy']} | {r['wall_s']:.2f} | {r['per_s']:.1f} "
              f"| {r['median_ms']:.0f} / {r['p95_ms']:.0f} | {r['per_controller']}{extra} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
