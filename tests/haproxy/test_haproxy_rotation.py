"""Zero-downtime rotation: clients keep making new TLS connections and HTTP requests while the certificate is
replaced again and again; not one request may fail, and the clients must see every rotation."""

from __future__ import annotations

import contextlib

import pytest
from e2e_haproxy import Kit, LoadClient, fingerprint, processes, wait_until

pytestmark = pytest.mark.haproxy

ROTATIONS = 10
CLIENTS = 2
AFTER_EACH = 40  # requests each client makes on every certificate before the next rotation


def test_rotating_under_load_fails_no_request(kit: Kit) -> None:
    one, two = kit.issue("www.rot.test", "rot.test"), kit.issue("www.rot.test", "rot.test")  # same names
    kit.add_cert("rot", one)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "rot")
    before = processes(lb.dir)
    clients = [LoadClient(lb.tls_port, "www.rot.test", kit.root, max_requests=1500, max_seconds=60)
               for _ in range(CLIENTS)]

    def settled_on(expected: str, since: list[int]) -> bool:
        snaps = [c.snapshot() for c in clients]
        return all(last == expected and count >= start + AFTER_EACH for (count, last), start in zip(
            snaps, since, strict=True))

    with contextlib.ExitStack() as stack:
        for client in clients:
            stack.enter_context(client.running())
        wait_until(lambda: settled_on(fingerprint(one), [0] * CLIENTS), 30, "the clients to get going")
        for i in range(ROTATIONS):
            target = two if i % 2 == 0 else one
            since = [c.snapshot()[0] for c in clients]
            kit.add_cert("rot", target, replace=True)
            wait_until(lambda t=target, s=since: settled_on(fingerprint(t), s), 30,  # type: ignore[misc]
                       f"the clients to see rotation {i + 1}")

    results = [c.result for c in clients]
    assert [r.failures for r in results] == [[]] * CLIENTS
    assert all(r.requests <= 1500 for r in results)
    assert sum(r.requests for r in results) >= CLIENTS * AFTER_EACH * (ROTATIONS + 1)
    # each client saw every rotation, in order, and never an old certificate once it had the new one
    assert [r.switches() for r in results] == [ROTATIONS] * CLIENTS
    assert [set(r.seen) for r in results] == [{fingerprint(one), fingerprint(two)}] * CLIENTS
    assert processes(lb.dir) == before  # no reload: the runtime API swapped it in place
    assert kit.svc.show_certificate("rot").fingerprint_sha256 == fingerprint(two if ROTATIONS % 2 else one)
