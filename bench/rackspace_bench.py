"""Rotating one certificate served by N Rackspace load balancers (issue 9): wall time and requests, against the
emulator (tests/rackspace/emulator) with the published rate limits on, every change PENDING_UPDATE for
``--pending`` seconds.

    .venv/bin/python bench/rackspace_bench.py [--lbs 20] [--pending 2.0] [--quick] [--json FILE]

Four runs, each from the same starting point (N load balancers serving the certificate ``shop``), each
``Service.add_certificate("shop", ..., replace=True)``, which is ``sslterm cert add shop --replace``: leases,
journal, plan, the changes, read-back verification, outcome:

- ``one``: the certificate on a single load balancer: the yardstick of the issue's target ("close to one load
  balancer's time").
- ``one after another``: on N load balancers with ``SSLTERM_DEPLOY_WORKERS=1``.
- ``side by side``: on N load balancers with the default (8 at a time), then N at a time. The threads share the
  account's client (one token, one pacer under the rate limits, one status board).

Reported for each: wall time, requests to the load balancer API by verb, 413s, and the most requests of one verb
in any one-second window (the published limits: GET and PUT 10/s, POST and DELETE 5/s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "rackspace"), str(ROOT / "tests")]

from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
from emulator import DEFAULT_RATE_LIMITS, Emulator, RecordedRequest, running_emulator  # noqa: E402

from sslterm.certs import BundleInput  # noqa: E402
from sslterm.demo.ca import DemoCA, Issued  # noqa: E402
from sslterm.providers.rackspace import close_accounts  # noqa: E402
from sslterm.service import Service  # noqa: E402
from sslterm.settings import Settings  # noqa: E402

REGION = "DFW"
SETUP_PENDING = 0.05  # while the fleet is set up (not measured)
LIMITS = {"GET": 10, "POST": 5, "PUT": 10, "DELETE": 5}


@dataclass
class Result:
    name: str
    lbs: int
    seconds: float
    requests: dict[str, int]
    over_limit: int
    peak_per_second: dict[str, int]
    authentications: int

    def row(self) -> str:
        verbs = ", ".join(f"{v} {n}" for v, n in sorted(self.requests.items()))
        peaks = ", ".join(f"{v} {n}" for v, n in sorted(self.peak_per_second.items()))
        total = sum(self.requests.values())
        return (f"| {self.name} | {self.lbs} | {self.seconds:.1f} s | {total} ({verbs}) | {self.over_limit} | "
                f"{peaks} | {self.authentications} |")


def api_requests(rax: Emulator) -> list[RecordedRequest]:
    return [r for r in rax.requests if "/v1.0/" in r.path]


def peaks(requests: list[RecordedRequest]) -> dict[str, int]:
    """The most requests of each verb within any one second (a sliding window over the arrival times)."""
    out: dict[str, int] = {}
    for verb in {r.method for r in requests}:
        times = sorted(r.at for r in requests if r.method == verb)
        start, best = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        out[verb] = best
    return out


def measured(name: str, rax: Emulator, lbs: int, run: Callable[[], object]) -> Result:
    time.sleep(1.1)  # the set-up's requests leave the pacer's window and the emulator's rate limit
    rax.clear_requests()
    rax.reset_rate_limits()
    tokens = rax.tokens_issued
    started = time.monotonic()
    run()
    seconds = time.monotonic() - started
    found = api_requests(rax)
    return Result(name, lbs, seconds, dict(Counter(r.method for r in found)),
                  sum(1 for r in found if r.status == 413), peaks(found), rax.tokens_issued - tokens)


def inputs(issued: Issued) -> BundleInput:
    return BundleInput(cert=issued.cert_pem() + issued.chain_pem(), key=issued.key_pem())


def pem(issued: Issued) -> str:
    return issued.cert.public_bytes(Encoding.PEM).decode()


class Fleet:
    """N load balancers in the emulator and a store whose certificate ``shop`` is served by all of them."""

    def __init__(self, rax: Emulator, home: Path, ca: DemoCA, lbs: int, *, first_id: int) -> None:
        self.rax, self.ca = rax, ca
        self.ids = list(range(first_id, first_id + lbs))
        for lb_id in self.ids:
            rax.add_load_balancer(lb_id, REGION, name=f"web{lb_id}")
        self.env = {"rackspace_username": rax.username, "rackspace_api_key": rax.api_key,
                    "rackspace_identity_url": rax.identity_url}
        settings = Settings(home=home, rackspace_username=rax.username, rackspace_api_key=rax.api_key,
                            rackspace_identity_url=rax.identity_url)
        self.service = Service(settings, anchors=(ca.root,))
        self.service.add_certificate("shop", inputs(self.issue()))
        for lb_id in self.ids:
            self.service.add_load_balancer(f"lb{lb_id}", "rackspace", {"lb_id": str(lb_id), "region": REGION})
            self.service.enable(f"lb{lb_id}", "shop")

    def issue(self) -> Issued:
        return self.ca.issue("shop.example.test", "www.shop.example.test", key_kind="rsa")

    def serving(self, issued: Issued) -> bool:
        return all((t := self.rax.ssl_termination(i)) is not None and t.certificate == pem(issued) for i in self.ids)

    def rotate(self, workers: int | None = None) -> Issued:
        """``sslterm cert add shop --replace`` in process, ``SSLTERM_DEPLOY_WORKERS=workers`` (None: default)."""
        renewed = self.issue()
        service = self.service if workers is None else Service(
            replace(self.service.settings, deploy_workers=workers), anchors=(self.ca.root,))
        service.add_certificate("shop", inputs(renewed), replace=True)
        if service is not self.service:
            service.close()
        return renewed

    def close(self) -> None:
        self.service.close()
        close_accounts()


def run(lbs: int, pending: float) -> list[Result]:
    ca = DemoCA("rackspace bench")
    results, box = [], {}
    with running_emulator(pending_seconds=SETUP_PENDING, rate_limits=DEFAULT_RATE_LIMITS) as rax, \
            tempfile.TemporaryDirectory() as tmp:
        single = Fleet(rax, Path(tmp) / "one", ca, 1, first_id=4001)
        rax.pending_seconds = pending
        results.append(measured("one", rax, 1, lambda: box.update(one=single.rotate())))
        assert single.serving(box["one"])
        single.close()
        rax.pending_seconds = SETUP_PENDING
        fleet = Fleet(rax, Path(tmp) / "fleet", ca, lbs, first_id=5001)
        rax.pending_seconds = pending
        for name, workers in (("one after another (SSLTERM_DEPLOY_WORKERS=1)", 1),
                              ("side by side (default: 8 at a time)", None),
                              (f"side by side ({lbs} at a time)", lbs)):
            results.append(measured(name, rax, lbs, lambda w=workers: box.update(last=fleet.rotate(w))))
            assert fleet.serving(box["last"])
        fleet.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lbs", type=int, default=20)
    parser.add_argument("--pending", type=float, default=2.0, help="seconds each change stays PENDING_UPDATE")
    parser.add_argument("--quick", action="store_true", help="--pending 0.5")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pending = 0.5 if args.quick else args.pending
    if not 1 <= args.lbs <= 25 or not 0 <= pending <= 60:
        parser.error("--lbs 1..25 (the account limit), --pending 0..60")
    results = run(args.lbs, pending)
    print(f"Rotating one certificate, Rackspace emulator, published rate limits on, PENDING_UPDATE {pending} s:")
    print("| run | load balancers | wall time | requests | 413s | most per second | tokens |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(r.row())
    over = [r for r in results if any(n > LIMITS[v] for v, n in r.peak_per_second.items())]
    print("within the rate limits" if not over else f"OVER THE LIMIT: {[r.name for r in over]}")
    if args.json:
        args.json.write_text(json.dumps([vars(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
