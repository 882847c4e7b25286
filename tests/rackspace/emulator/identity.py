"""Identity v2.0: tokens and the service catalog."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping

from .model import _Token
from .texts import IDENTITY_BAD_BODY, IDENTITY_BAD_CREDENTIALS
from .wire import _empty, _Fault, _iso, _Reply


class _Identity:
    """POST /v2.0/tokens and the token check of every API request."""

    def _new_token(self) -> str:
        token = secrets.token_hex(16)
        self._tokens[token] = _Token(time.time() + self.token_lifetime)
        self.tokens_issued += 1
        return token

    def _authenticate(self, raw: bytes) -> _Reply:
        bad = _Fault(_Reply(400, {"badRequest": {"code": 400, "message": IDENTITY_BAD_BODY}}))
        unauthorized = _Fault(_Reply(401, {"unauthorized": {"code": 401, "message": IDENTITY_BAD_CREDENTIALS}}))
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise bad from None
        auth = doc.get("auth") if isinstance(doc, dict) else None
        if not isinstance(auth, dict):
            raise bad
        expected: str | None
        api_key = auth.get("RAX-KSKEY:apiKeyCredentials")
        password = auth.get("passwordCredentials")
        if isinstance(api_key, dict):
            user, secret, expected, method = api_key.get("username"), api_key.get("apiKey"), self.api_key, "APIKEY"
        elif isinstance(password, dict):
            user, secret, expected, method = password.get("username"), password.get("password"), self.password, \
                "PASSWORD"
        else:
            raise bad
        if not isinstance(user, str) or not isinstance(secret, str):
            raise bad
        if user != self.username or expected is None or not secrets.compare_digest(secret, expected):
            raise unauthorized
        tenant = auth.get("tenantId", auth.get("tenantName"))
        if tenant is not None and tenant != self.tenant_id:  # message as in [mimic] identity_api
            raise _Fault(_Reply(401, {"unauthorized": {"code": 401, "message": (
                f"Tenant with Name/Id: '{tenant}' is not valid for User '{user}' (id: '10001')")}}))
        token = self._new_token()
        return _Reply(200, {"access": {
            "token": {"id": token, "expires": _iso(self._tokens[token].expires_at, millis=True),
                      "tenant": {"id": self.tenant_id, "name": self.tenant_id},
                      "RAX-AUTH:authenticatedBy": [method]},
            "serviceCatalog": self._catalog(),
            "user": {"id": "10001", "name": self.username, "RAX-AUTH:defaultRegion": self.regions[0],
                     "roles": [{"id": "3", "name": "identity:user-admin", "description": "User Admin Role."}]},
        }})

    def _catalog(self) -> list[dict[str, object]]:
        """The load balancer entry plus decoys, so a client must pick by name/type and region."""
        return [
            {"name": "cloudServersOpenStack", "type": "compute",
             "endpoints": [{"publicURL": f"{self.base_url}/servers/{r.lower()}/v2/{self.tenant_id}", "region": r,
                            "tenantId": self.tenant_id} for r in self.regions]},
            {"name": "cloudLoadBalancers", "type": "rax:load-balancer",
             "endpoints": [{"publicURL": self.endpoint(r), "region": r, "tenantId": self.tenant_id}
                           for r in self.regions]},
            {"name": "cloudDNS", "type": "rax:dns",
             "endpoints": [{"publicURL": f"{self.base_url}/dns/v1.0/{self.tenant_id}", "tenantId": self.tenant_id}]},
        ]

    def _check_token(self, headers: Mapping[str, str], tenant: str) -> None:
        """[docs] faults.rst: "No response body is returned for an unauthorized fault"."""
        token = self._tokens.get(headers.get("x-auth-token", ""))
        if token is None or token.expires_at <= time.time() or tenant != self.tenant_id:
            raise _empty(401)
