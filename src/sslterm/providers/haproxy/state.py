"""The listeners a HAProxy load balancer was last brought to, kept beside its files (state.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sslterm.engine.contract import CertSlot, ListenerSpec
from sslterm.files import write_atomic


def _listener_to_json(listener: ListenerSpec) -> dict[str, Any]:
    data = listener.describe(certificates=False)
    data["certificates"] = [{"name": c.name, "fingerprint": c.fingerprint, "sans": c.sans, "chain": c.chain}
                            for c in listener.certificates]
    return data


def _listener_from_json(data: dict[str, Any]) -> ListenerSpec:
    return ListenerSpec(
        lb_port=int(data["lb_port"]), instance_port=data.get("instance_port"),
        instance_protocol=str(data["instance_protocol"]), redirect_http=bool(data["redirect_http"]),
        hsts=bool(data["hsts"]), tls_profile=str(data["tls_profile"]),
        certificates=tuple(CertSlot(c["name"], c["fingerprint"], tuple(c["sans"]), chain=tuple(c.get("chain", ())))
                           for c in data["certificates"]),
    )


def load(path: Path) -> tuple[ListenerSpec, ...]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return ()
    return tuple(_listener_from_json(item) for item in data["listeners"])


def save(path: Path, listeners: tuple[ListenerSpec, ...]) -> None:
    body = {"listeners": [_listener_to_json(lst) for lst in sorted(listeners, key=lambda x: x.lb_port)]}
    write_atomic(path, json.dumps(body, separators=(",", ":")).encode())
