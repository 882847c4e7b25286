"""Names for what a load balancer serves, where it keeps none of sslterm's (``Capabilities.keeps_names`` is
False: Rackspace). A certificate the load balancer serves on a port that is, leaf and chain, one the store
gives that port is that certificate: it takes the store's name; SNI certificates that are the same set as the
store's are taken in the store's order (the load balancer lists them in an order of its own). So an unchanged
state plans nothing, and status compares the same things."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sslterm.engine.model import ListenerSpec


def adopt_names(observed: Sequence[ListenerSpec], desired: Sequence[ListenerSpec]) -> tuple[ListenerSpec, ...]:
    wanted = {x.lb_port: x for x in desired}
    return tuple(_adopted(x, wanted[x.lb_port]) if x.lb_port in wanted else x for x in observed)


def _adopted(have: ListenerSpec, want: ListenerSpec) -> ListenerSpec:
    by_id = {c.served_id: c for c in want.certificates}
    named = [replace(c, name=by_id[c.served_id].name) if c.served_id in by_id else c for c in have.certificates]
    if (named and want.certificates and named[0].served_id == want.certificates[0].served_id
            and sorted(c.served_id for c in named[1:]) == sorted(c.served_id for c in want.certificates[1:])):
        by_id_named = {c.served_id: c for c in named}
        named = [named[0], *(by_id_named[c.served_id] for c in want.certificates[1:])]
    return replace(have, certificates=tuple(named))
