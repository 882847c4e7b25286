"""What a change of a HAProxy load balancer's listeners touches, found without a Python step per certificate
when it replaces a few certificates among many (a rotation, or a bind that changes one)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import compress, count
from operator import attrgetter, is_, is_not

from sslterm.engine.contract import CertSlot, ListenerSpec
from sslterm.providers.haproxy.config import Rendered
from sslterm.providers.haproxy.files import FileSet
from sslterm.providers.haproxy.layout import Layout

_name = attrgetter("name")
_material = attrgetter("material")


def with_slot(listener: ListenerSpec, slot: CertSlot) -> ListenerSpec:
    """``listener`` with every certificate named like ``slot`` replaced by ``slot``."""
    names = list(map(_name, listener.certificates))
    if slot.name not in names:
        return listener
    if names.count(slot.name) > 1:
        return replace(listener, certificates=tuple(slot if c.name == slot.name else c for c in listener.certificates))
    i = names.index(slot.name)
    return replace(listener, certificates=(*listener.certificates[:i], slot, *listener.certificates[i + 1:]))


def replaced_only(current: Sequence[ListenerSpec], wanted: Sequence[ListenerSpec]) -> dict[str, str] | None:
    """When ``wanted`` has the listeners of ``current`` with the same certificate names in the same order (or
    the very same slots with others appended), and each certificate that serves something else (or is new)
    is named once: name -> served id of those. None when that is not so: compare everything, by name."""
    before = {x.lb_port: x for x in current}
    if len(before) != len(current) or before.keys() != {x.lb_port for x in wanted} or len(wanted) != len(current):
        return None
    changed: dict[str, str] = {}
    for listener in wanted:
        old, new = before[listener.lb_port].certificates, listener.certificates
        if len(old) < len(new) and all(map(is_, new[:len(old)], old)):  # appended after the same slots
            changed |= {slot.name: slot.served_id for slot in new[len(old):]}
            continue
        if len(old) != len(new):
            return None
        for i in compress(count(), map(is_not, old, new)):
            if old[i].name != new[i].name:
                return None
            if old[i].served_id != new[i].served_id:
                if new[i].name in changed:
                    return None
                changed[new[i].name] = new[i].served_id
    names = [list(map(_name, x.certificates)) for x in wanted] if changed else []
    if any(sum(listed.count(name) for listed in names) > 1 for name in changed):
        return None
    return changed


class Unchanged(Sequence[str]):
    """The certificate names of ``listeners`` but ``changed``, listed only when asked (a reload's candidate
    copy links them; the runtime API never needs them)."""

    def __init__(self, listeners: Sequence[ListenerSpec], changed: Mapping[str, str]) -> None:
        self._listeners, self._changed = listeners, changed
        self._names: list[str] | None = None

    def _list(self) -> list[str]:
        if self._names is None:
            names = dict.fromkeys(c.name for x in self._listeners for c in x.certificates)
            self._names = [n for n in names if n not in self._changed]
        return self._names

    def __len__(self) -> int:
        return len(self._list())

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self._list()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._list())


def replaced_files(files: FileSet, layout: Layout, rendered: Rendered, wanted: Sequence[ListenerSpec],
                   replaced: Mapping[str, str]) -> FileSet:
    """The files for ``wanted`` when only the certificates of ``replaced`` (name -> served id) serve
    something else: theirs from their staged copies, the configuration and crt-lists as rendered (written
    only where they differ), every other certificate file kept as it is, unread."""
    if rendered.config is not None:
        files.contents[layout.config] = rendered.config
    files.contents.update(rendered.crt_lists)
    for name, served_id in replaced.items():
        files.contents[layout.pem(name)] = layout.staged(served_id).read_text()
    files.kept = Unchanged(wanted, replaced)
    return files


def without_material(listener: ListenerSpec) -> ListenerSpec:
    """``listener`` as notes keep it: no certificate's key material (sealed or not) outlives the call."""
    armed = list(compress(count(), map(_material, listener.certificates)))
    if not armed:
        return listener
    certificates = list(listener.certificates)
    for i in armed:
        certificates[i] = replace(certificates[i], material=None)
    return replace(listener, certificates=tuple(certificates))
