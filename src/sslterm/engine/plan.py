"""Plans: what must change on one load balancer, computed before anything is touched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, count
from operator import attrgetter, eq, is_, is_not

from sslterm.engine.model import CertSlot, ListenerSpec

_name = attrgetter("name")


@dataclass(frozen=True)
class Step:
    action: str  # "upload" | "rotate" (certificates replaced in place) | "bind" | "unbind"
    lb_port: int | None
    summary: str
    before: ListenerSpec | None = None
    after: ListenerSpec | None = None
    slot: CertSlot | None = None

    def as_json(self) -> dict[str, object]:
        return {"action": self.action, "lb_port": self.lb_port, "summary": self.summary,
                "before": self.before.describe() if self.before else None,
                "after": self.after.describe() if self.after else None}


@dataclass(frozen=True)
class Plan:
    lb: str
    steps: tuple[Step, ...]

    @property
    def empty(self) -> bool:
        return not self.steps

    def uploads(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action == "upload")

    def changes(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action != "upload")

    def as_json(self) -> dict[str, object]:
        return {"load_balancer": self.lb, "steps": [s.as_json() for s in self.steps]}


def _certs(listener: ListenerSpec) -> str:
    shown = ", ".join(f"{c.name} ({c.fingerprint[:12]})" for c in listener.certificates[:5])
    more = len(listener.certificates) - 5
    return (shown + (f" and {more} more" if more > 0 else "")) or "none"


def settings_text(listener: ListenerSpec) -> str:
    """Every setting of a listener, in words: what an operator checks in a plan before applying it."""
    port = str(listener.instance_port) if listener.instance_port else "each backend's own port (80 if none)"
    return (f"instances {listener.instance_protocol} on {port}; "
            f"redirect HTTP to HTTPS {'on' if listener.redirect_http else 'off'}; "
            f"HSTS {'on' if listener.hsts else 'off'}; TLS profile {listener.tls_profile}")


def certificate_changes(before: ListenerSpec | None, after: ListenerSpec | None) -> list[tuple[str, str, str | None]]:
    """(verb, certificate name, new fingerprint) for each certificate added, replaced (a new leaf, or the
    same leaf with another chain) or removed."""
    same_order = _replaced_in_order(before, after)
    if same_order is not None:
        return same_order
    old = {c.name: c for c in before.certificates} if before else {}
    new = {c.name: c for c in after.certificates} if after else {}
    changes: list[tuple[str, str, str | None]] = []
    for name, slot in new.items():
        if name not in old:
            changes.append(("add", name, slot.fingerprint))
        elif old[name].served_id != slot.served_id:
            changes.append(("replace", name, slot.fingerprint))
    changes += [("remove", name, None) for name in old if name not in new]
    return changes


def _differing(before: ListenerSpec, after: ListenerSpec) -> list[tuple[CertSlot, CertSlot]]:
    """The pairs of slots at the same position that are not the same object (plans mostly compare a
    listener with itself and one certificate changed: found without a Python step per certificate)."""
    old, new = before.certificates, after.certificates
    return [(old[i], new[i]) for i in compress(count(), map(is_not, old, new))]


def _replaced_in_order(before: ListenerSpec | None,
                       after: ListenerSpec | None) -> list[tuple[str, str, str | None]] | None:
    """:func:`certificate_changes` when both listeners have the same certificates by name in the same order
    (replacements only, in order), or ``after`` is ``before``'s very slots with others appended (additions);
    None otherwise."""
    if before is None or after is None or len(before.certificates) > len(after.certificates):
        return None
    if len(before.certificates) < len(after.certificates):  # appended after the same objects: added
        kept, added = after.certificates[:len(before.certificates)], after.certificates[len(before.certificates):]
        if not all(map(is_, kept, before.certificates)) or not {c.name for c in added}.isdisjoint(
                map(_name, kept)) or len({c.name for c in added}) != len(added):
            return None
        return [("add", c.name, c.fingerprint) for c in added]
    changes: list[tuple[str, str, str | None]] = []
    for old, new in _differing(before, after):
        if old.name != new.name:
            return None
        if old.served_id != new.served_id:
            changes.append(("replace", new.name, new.fingerprint))
    return changes


def replaced_pairs(before: ListenerSpec, after: ListenerSpec) -> list[tuple[CertSlot, CertSlot]]:
    """(before, after) of each certificate of ``after`` (all of them in ``before`` too: a rotation), in
    ``after``'s order, leaving out the slots that are the very same object in both (unchanged for certain)."""
    if len(before.certificates) == len(after.certificates):
        pairs = _differing(before, after)
        if all(old.name == new.name for old, new in pairs):
            return pairs
    old = {c.name: c for c in before.certificates}
    return [(old[c.name], c) for c in after.certificates if old[c.name] is not c]


def _replaced_pairs(before: ListenerSpec, after: ListenerSpec, names: set[str]) -> dict[str, tuple[CertSlot, CertSlot]]:
    """(before, after) slot of each of ``names`` (certificates in both)."""
    if len(before.certificates) == len(after.certificates):
        pairs = {old.name: (old, new) for old, new in _differing(before, after) if old.name == new.name}
        if names <= pairs.keys():
            return pairs
    old = {c.name: c for c in before.certificates}
    return {c.name: (old[c.name], c) for c in after.certificates if c.name in names}


def _replaced(old: CertSlot, new: CertSlot) -> str:
    if old.fingerprint == new.fingerprint:
        return f"{new.fingerprint[:12]}, chain of {len(old.chain)} -> {len(new.chain)} certificate(s)"
    return f"{old.fingerprint[:12]} -> {new.fingerprint[:12]}"


def _describe_change(before: ListenerSpec | None, after: ListenerSpec) -> str:
    if before is None:
        return (f"enable TLS on :{after.lb_port} ({settings_text(after)}), default certificate first: "
                f"{_certs(after)}")
    changes = certificate_changes(before, after)
    pairs = _replaced_pairs(before, after, {name for verb, name, _ in changes if verb == "replace"})
    parts = []
    for verb, name, fingerprint in changes:
        shown = _replaced(*pairs[name]) if verb == "replace" else (fingerprint or "")[:12]
        parts.append(f"{verb} {name}" + (f" ({shown})" if shown else ""))
    if not parts and before.fingerprints() != after.fingerprints():
        parts.append(f"reorder certificates (default first): {_certs(after)}")
    if not before.same_settings(after):
        parts.append(f"settings: {settings_text(before)} -> {settings_text(after)}")
    return f"update :{after.lb_port}: " + "; ".join(parts)


def rotation_only(before: ListenerSpec | None, after: ListenerSpec) -> bool:
    """Whether ``before`` becomes ``after`` by replacing certificates alone: the same certificates (by name)
    in the same order, the same settings, some of them with another leaf or chain."""
    return (before is not None and before != after and before.same_settings(after)
            and len(before.certificates) == len(after.certificates)
            and all(map(eq, map(_name, before.certificates), map(_name, after.certificates))))


def compute(lb: str, observed: Sequence[ListenerSpec], desired: Sequence[ListenerSpec], *,
            rotate_in_place: bool = False) -> Plan:
    """Uploads first (every certificate the load balancer lacks and a bind needs), then one step per listener
    that differs: with ``rotate_in_place``, a listener whose certificates were only replaced gets a
    ``rotate`` step (the provider swaps them where they are served: no listener change, no upload)."""
    by_port = {x.lb_port: x for x in observed}
    changes: list[Step] = []
    for listener in sorted(desired, key=lambda x: x.lb_port):
        before = by_port.get(listener.lb_port)
        if before == listener:
            continue
        if rotate_in_place and rotation_only(before, listener):
            changes.append(Step("rotate", listener.lb_port,
                                _describe_change(before, listener) + " (in place)", before, listener))
        else:
            changes.append(Step("bind", listener.lb_port, _describe_change(before, listener), before, listener))
    wanted = {x.lb_port for x in desired}
    for listener in observed:
        if listener.lb_port not in wanted:
            changes.append(Step("unbind", listener.lb_port, f"disable TLS on :{listener.lb_port}", listener, None))
    uploads: list[Step] = []
    binds = [step for step in changes if step.action == "bind" and step.after]
    have = {c.served_id for x in observed for c in x.certificates} if binds else set()
    for step in binds:
        for slot in step.after.certificates if step.after else ():
            if slot.served_id not in have:
                have.add(slot.served_id)
                uploads.append(Step("upload", None, f"upload {slot.name} ({slot.fingerprint[:12]})", slot=slot))
    return Plan(lb, (*uploads, *changes))
