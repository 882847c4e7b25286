"""Replies, faults and request bodies, as the service shapes them ([atlas], [mimic])."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from .texts import _SECRET_FIELDS

# -- replies and faults ---------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class _Fault(Exception):
    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _fault(code: int, message: str, details: str | None = None) -> _Fault:
    """[atlas] ResponseFactory/LbaasFault in JSON: message, code and details (omitted when null)."""
    body: dict[str, object] = {"message": message, "code": code}
    if details is not None:
        body["details"] = details
    return _Fault(_Reply(code, body))


def _validation_fault(messages: Sequence[str]) -> _Fault:
    """[atlas] HttpResponseBuilder.buildBadRequestResponse; shape also in [mimic] clb_errors.validation_errors."""
    unique = list(dict.fromkeys(messages))
    return _Fault(_Reply(400, {"validationErrors": {"messages": unique}, "message": "Validation Failure",
                               "code": 400, "details": "The object is not valid"}))


def _schema_fault() -> _Fault:
    """Invalid JSON or fields outside the schema: [mimic] clb_errors.invalid_json_schema ("Verified 2015-06-16")."""
    return _Fault(_Reply(400, {"message": ["JSON does not match the expected schema"]}))


def _empty(status: int) -> _Fault:
    return _Fault(_Reply(status))


def _iso(at: float | datetime, *, millis: bool = False) -> str:
    moment = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _redact(value: object) -> object:
    if isinstance(value, dict):
        return {k: "<redacted>" if k in _SECRET_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


# -- request bodies -------------------------------------------------------------------------------------------------


def _parse_json(raw: bytes) -> object:
    try:
        return cast(object, json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _schema_fault() from None


def _wrapped(raw: bytes, key: str, allowed: frozenset[str]) -> dict[str, object]:
    doc = _parse_json(raw)
    if not isinstance(doc, dict) or set(doc) != {key} or not isinstance(doc[key], dict):
        raise _schema_fault()
    inner = cast(dict[str, object], doc[key])
    if not set(inner) <= allowed:
        raise _schema_fault()
    return {k: v for k, v in inner.items() if v is not None}


def _opt_str(fields: Mapping[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _schema_fault()


def _opt_bool(fields: Mapping[str, object], name: str) -> bool | None:
    """Booleans as JSON or as "true"/"false" strings (the docs' own attribute example sends strings)."""
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _schema_fault()


def _opt_int(fields: Mapping[str, object], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]{1,9}", value):
        return int(value)
    raise _schema_fault()
