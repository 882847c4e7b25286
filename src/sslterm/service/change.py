"""What one command prepares in its transaction: the deployments recorded and not carried out yet."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import is_not
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from sslterm.engine.contract import CertRef, CertSlot, ListenerSpec, Observed
from sslterm.engine.plan import Plan
from sslterm.service.rollout import Outcome
from sslterm.store.schema import LoadBalancerRow

if TYPE_CHECKING:
    from sslterm.service.deployments import Deployments


@dataclass
class Pending:
    """A deployment recorded and not carried out yet."""

    lb: str
    outcome: Outcome
    plan: Plan  # with the material of what it changes (sealed until a provider asks)
    deployment: int
    desired: tuple[ListenerSpec, ...] = ()
    refs: dict[str, CertRef] = field(default_factory=dict)  # what it uploaded, filled as it goes

    def uploaded(self) -> list[tuple[str, str, str]]:
        return [(ref.scope, ref.fingerprint, ref.location) for ref in self.refs.values()]

    def fingerprints(self) -> dict[str, str]:
        """Served id -> leaf fingerprint of what it uploads."""
        return {s.slot.served_id: s.slot.fingerprint for s in self.plan.uploads() if s.slot is not None}

    def stopped_serving(self) -> dict[str, str]:
        """Served id -> leaf fingerprint of what the load balancer had and is no longer given."""
        given = {x.lb_port: x for x in self.desired}
        had = [c for x in self.outcome.previous for c in _not_in(x, given.get(x.lb_port))]
        if not had:
            return {}
        kept = {c.served_id for x in self.desired for c in x.certificates}
        return {c.served_id: c.fingerprint for c in had if c.served_id not in kept}


def _not_in(before: ListenerSpec, after: ListenerSpec | None) -> list[CertSlot]:
    """The slots of ``before`` that may not be in ``after``: all of them, or (same length) those that are
    not the very object at the same place in ``after``: one pass without a Python step per certificate."""
    if after is None or len(after.certificates) != len(before.certificates):
        return list(before.certificates)
    return list(compress(before.certificates, map(is_not, before.certificates, after.certificates)))


@dataclass
class Change:
    """A command's store session and the deployments it prepares in it."""

    session: Session
    deployments: Deployments
    dry_run: bool = False
    #: what each load balancer the command was to change had, read under its lease before the transaction
    observed: dict[str, Observed] = field(default_factory=dict)
    batch: str = field(default_factory=lambda: uuid.uuid4().hex)
    pending: list[Pending] = field(default_factory=list)
    revert: list[dict[str, Any]] = field(default_factory=list)  # how to undo the store change

    def keep(self, snapshot: dict[str, Any]) -> None:
        """Remember how to put the store back (taken before the use case changes it)."""
        self.revert.append(snapshot)

    def deploy(self, lb: LoadBalancerRow) -> Outcome:
        """Plan ``lb`` to what the store now says; unless a dry run, lease it and record the deployment, to be
        carried out once the store change has committed. The outcome's report is filled in then."""
        return self.deployments.prepare(self, lb)

    def redeploy(self, lb_names: Sequence[str]) -> list[str]:
        """Deploy each of ``lb_names``; the names of those whose change waits for their controller."""
        ctx = self.deployments.ctx
        outcomes = {name: self.deploy(ctx.lb(self.session, name, listeners=False)) for name in dict.fromkeys(lb_names)}
        return [name for name, outcome in outcomes.items() if outcome.waiting_for]
