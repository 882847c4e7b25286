"""What the REST API accepts: request bodies by the nouns of DESIGN.md, and the certificate upload read
from JSON or from a multipart form with the same field names (files or pasted text), into the very
``BundleInput`` ``sslterm cert add`` builds, so an upload is checked exactly as the command checks it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from sslterm.certs import BundleInput
from sslterm.errors import InputError
from sslterm.files import passphrase

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused, not ignored


class Replacement(_Body):
    """A certificate bundle as PEM text (the multipart form also takes DER or PEM files)."""

    certificate: str = Field(description="the certificate (PEM); may hold the chain and the key too")
    private_key: str | None = Field(None, description="its private key (PEM), unless in `certificate`",
                                    json_schema_extra={"writeOnly": True})
    chain: str | None = Field(None, description="the intermediate certificates (PEM), in any order")
    passphrase: str | None = Field(None, description="the key's passphrase; the key is stored without it",
                                   json_schema_extra={"writeOnly": True})

    def bundle(self) -> BundleInput:
        return bundle_input(self.certificate, self.private_key, self.chain, self.passphrase)


class NewCertificate(Replacement):
    name: str = Field(description="its name in the store: 1-64 of A-Z a-z 0-9 . _ -")


class Rollback(_Body):
    to: str | None = Field(None, description="8 or more hex digits of the version's fingerprint (default: the "
                           "previous version)")


class NewLoadBalancer(_Body):
    name: str
    kind: str = Field(description="haproxy, aws-elb, aws-alb or rackspace")
    options: dict[str, str | list[str] | None] = Field(
        default_factory=dict, description="the `sslterm lb add` flags, `-` written `_`: bind, http_bind, backends "
        "(a list), config, socket, master_socket, name, region, cert_store, target_group, lb_id")


class Enable(_Body):
    certificate: str
    lb_port: int | None = Field(None, ge=1, le=65535)
    instance_port: int | None = Field(None, ge=1, le=65535)
    instance_protocol: str | None = Field(None, description="HTTP (default) or HTTPS")
    redirect_http: bool | None = None
    hsts: bool | None = None
    tls_profile: str | None = Field(None, description="modern, intermediate (default) or old")


def bundle_input(certificate: str | bytes, private_key: str | bytes | None, chain: str | bytes | None,
                 secret: str | bytes | None) -> BundleInput:
    secret_bytes = _bytes(secret)
    return BundleInput(cert=_bytes(certificate), cert_source="certificate", key=_bytes(private_key),
                       key_source="private_key", chain=_bytes(chain), chain_source="chain",
                       passphrase=passphrase(secret_bytes) if secret_bytes is not None else None)


def _bytes(value: str | bytes | None) -> bytes | None:
    if value is None or value in ("", b""):
        return None
    return value.encode() if isinstance(value, str) else value


async def upload(request: Request, model: type[Replacement]) -> tuple[str | None, BundleInput]:
    """The certificate upload of ``request`` (JSON, or a form of the same fields): its name (for a
    :class:`NewCertificate`) and bundle. A malformed body is an ``InputError`` (400); the body itself is
    never echoed (it holds a key)."""
    if request.headers.get("content-type", "").split(";")[0].strip() not in FORM_TYPES:
        body = _parse(model, await _json(request))
        return (body.name if isinstance(body, NewCertificate) else None), body.bundle()
    async with request.form(max_files=4, max_fields=8) as form:
        fields = {key: await _field(value) for key, value in form.items()}
    fields = {key: value for key, value in fields.items() if value}  # an empty field: not given
    unknown = sorted(set(fields) - set(model.model_fields))
    missing = sorted(k for k, f in model.model_fields.items() if f.is_required() and k not in fields)
    problems = [f"{what}: {', '.join(names)}" for what, names in (("unknown", unknown), ("missing", missing)) if names]
    if problems:
        raise InputError(f"the form's fields are wrong ({'; '.join(problems)})", code="bad-request",
                         hint="see /openapi.json for the fields")
    name = fields["name"].decode("utf-8", "replace") if "name" in fields else None
    return name, bundle_input(fields["certificate"], fields.get("private_key"), fields.get("chain"),
                              fields.get("passphrase"))


def _parse(model: type[Replacement], data: Any) -> Replacement:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors(include_input=False))
        raise InputError(f"the request body is malformed: {where or 'not an object'}", code="bad-request",
                         hint="see /openapi.json for the request's shape") from None


async def _field(value: str | UploadFile) -> bytes:
    return value.encode() if isinstance(value, str) else await value.read()


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InputError("the request body is not JSON", code="bad-request",
                         hint="send Content-Type: application/json, or a multipart form") from None
