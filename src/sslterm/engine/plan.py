"""Plans: what must change on one load balancer, computed before anything is touched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sslterm.engine.model import CertSlot, ListenerSpec


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


def _replaced(old: CertSlot, new: CertSlot) -> str:
    if old.fingerprint == new.fingerprint:
        return f"{new.fingerprint[:12]}, chain of {len(old.chain)} -> {len(new.chain)} certificate(s)"
    return f"{old.fingerprint[:12]} -> {new.fingerprint[:12]}"


def _describe_change(before: ListenerSpec | None, after: ListenerSpec) -> str:
    if before is None:
        return (f"enable TLS on :{after.lb_port} ({settings_text(after)}), default certificate first: "
                f"{_certs(after)}")
    old = {c.name: c for c in before.certificates}
    new = {c.name: c for c in after.certificates}
    parts = []
    for verb, name, fingerprint in certificate_changes(before, after):
        shown = _replaced(old[name], new[name]) if verb == "replace" else (fingerprint or "")[:12]
        parts.append(f"{verb} {name}" + (f" ({shown})" if shown else ""))
    if before.fingerprints() != after.fingerprints() and not parts:
        parts.append(f"reorder certificates (default first): {_certs(after)}")
    if not before.same_settings(after):
        parts.append(f"settings: {settings_text(before)} -> {settings_text(after)}")
    return f"update :{after.lb_port}: " + "; ".join(parts)


def rotation_only(before: ListenerSpec | None, after: ListenerSpec) -> bool:
    """Whether ``before`` becomes ``after`` by replacing certificates alone: the same certificates (by name)
    in the same order, the same settings, some of them with another leaf or chain."""
    return (before is not None and before != after and before.same_settings(after)
            and [c.name for c in before.certificates] == [c.name for c in after.certificates])


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
    have = {c.served_id for x in observed for c in x.certificates}
    uploads: list[Step] = []
    for step in changes:
        for slot in step.after.certificates if step.action == "bind" and step.after else ():
            if slot.served_id not in have:
                have.add(slot.served_id)
                uploads.append(Step("upload", None, f"upload {slot.name} ({slot.fingerprint[:12]})", slot=slot))
    return Plan(lb, (*uploads, *changes))
