"""A cloud-like load balancer for the controllers benchmark: no owner (any controller may change it, as an
ELB or a Rackspace load balancer), its state in one JSON file that every controller process reads and
writes under a lock (so two controllers see one load balancer), each API call taking ``latency`` seconds
(a stand-in for a cloud API's round trip), and verification by read-back (no handshake).

It implements the provider contract (``sslterm.engine.contract.Provider``) with ``rotate_in_place``; the
benchmark hands it to the service through ``Service(provider_factory=...)``. Not a test double of any real
cloud: only the shape of one (an API, shared state, no process of its own).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from sslterm.engine.contract import (
    Capabilities,
    CertRef,
    CertSlot,
    ListenerSpec,
    Observed,
    ProbeTarget,
    Served,
    Timing,
)
from sslterm.ports import LocalEndpoint

KIND = "bench-cloud"


class FileCloud:
    kind: ClassVar[str] = KIND

    def __init__(self, name: str, root: Path, latency: float) -> None:
        self.name, self.latency = name, latency
        self.path, self.lock = root / f"{name}.json", root / f"{name}.lock"
        self.capabilities = Capabilities(rotate_in_place=True, handshake=False)
        self.timing = Timing(attempts=3, first_delay=0.05, max_wait=5.0, settle_within=5.0, settle_interval=0.02)
        self.scope = f"{KIND}:{name}"
        self.default_lb_port = 443

    @contextlib.contextmanager
    def _api(self, write: bool = False) -> Iterator[dict[str, Any]]:
        """One API call: its latency, then the state, under the lock (written back when ``write``)."""
        time.sleep(self.latency)
        with self.lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            state = json.loads(self.path.read_text()) if self.path.exists() else {"listeners": [], "objects": {}}
            yield state
            if write:
                self.path.write_text(json.dumps(state))

    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        return None

    def observe(self) -> Observed:
        with self._api() as state:
            return Observed(tuple(ListenerSpec.from_record(x) for x in state["listeners"]))

    def upload(self, slot: CertSlot) -> CertRef:
        with self._api(write=True) as state:
            state["objects"][slot.served_id] = slot.name
        return CertRef(slot.served_id, f"object/{slot.served_id}", self.scope)

    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        new = self.upload(slot)
        with self._api(write=True) as state:
            for listener in state["listeners"]:
                for cert in listener["certificates"]:
                    if cert["name"] == slot.name:
                        cert.update(fingerprint=slot.fingerprint, chain=list(slot.chain), sans=list(slot.sans))
        return new

    def bind(self, listener: ListenerSpec, refs: dict[str, CertRef]) -> None:
        with self._api(write=True) as state:
            others = [x for x in state["listeners"] if x["lb_port"] != listener.lb_port]
            state["listeners"] = others + ([listener.as_record()] if listener.certificates else [])

    def unbind(self, lb_port: int) -> None:
        with self._api(write=True) as state:
            state["listeners"] = [x for x in state["listeners"] if x["lb_port"] != lb_port]

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        seen = self.observe().by_port().get(listener.lb_port)
        has = {c.name: c for c in seen.certificates} if seen else {}
        out = []
        for slot in listener.certificates:
            if only is None or slot.name in only:
                target = ProbeTarget("127.0.0.1", listener.lb_port, None, slot.fingerprint, slot.name,
                                     expect_chain=slot.chain)
                found = has.get(slot.name)
                out.append(Served(target, found.fingerprint if found else None, None if found else "absent",
                                  chain=found.chain if found else (), how="read-back"))
        return out

    def forget(self, ref: CertRef) -> None:
        with self._api(write=True) as state:
            state["objects"].pop(ref.fingerprint, None)

    def cleanup(self) -> None:
        return None

    def address(self, lb_port: int) -> tuple[str, int]:
        return "127.0.0.1", lb_port

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        return ()

    def alive(self) -> bool:
        return True

    def start(self) -> None:
        return None

    def stop(self, *, keep_files: bool = False) -> None:
        return None
