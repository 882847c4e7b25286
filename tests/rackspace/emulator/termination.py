"""/ssltermination and its certificate mappings."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import cast

from .model import CertificateMapping, LoadBalancer, SslTermination
from .pem import _blank_to_none, _check_bundle, _check_cert, _check_chain, _check_key
from .texts import (
    _HOST_NAME,
    _NO_SSL_PROTOCOLS,
    _SECURE_PROTOCOLS,
    CIPHER_PROFILES,
    MAPPING_NOT_FOUND,
    MUST_SUPPLY,
    MUST_SUPPLY_CERT_KEY,
    SSL_NOT_FOUND,
)
from .wire import _fault, _opt_bool, _opt_int, _opt_str, _Reply, _schema_fault, _validation_fault, _wrapped


class _TerminationApi:
    """GET/PUT/DELETE /ssltermination and the certificatemappings resources."""

    _SSL_FIELDS = frozenset({"certificate", "privatekey", "intermediateCertificate", "enabled", "secureTrafficOnly",
                             "securePort", "cipherProfile", "securityProtocols", "id"})

    def _get_ssl(self, lb: LoadBalancer, _mapping: str, _raw: bytes) -> _Reply:
        if lb.ssl_termination is None:
            raise _fault(404, SSL_NOT_FOUND)
        return _Reply(200, {"sslTermination": lb.ssl_termination.as_json()})

    @staticmethod
    def _security_protocols(fields: Mapping[str, object]) -> tuple[list[tuple[str, bool]], list[str]]:
        value = fields.get("securityProtocols", [])
        if not isinstance(value, list):
            raise _schema_fault()
        parsed: list[tuple[str, bool]] = []
        for item in value:
            if not isinstance(item, dict) or not set(item) <= {"securityProtocolName", "securityProtocolStatus"}:
                raise _schema_fault()
            name, status = item.get("securityProtocolName"), item.get("securityProtocolStatus", "ENABLED")
            if name not in ("TLS_10", "TLS_11") or status not in ("ENABLED", "DISABLED"):
                raise _schema_fault()  # an XSD enumeration in [atlas]
            parsed.append((cast(str, name), status == "ENABLED"))
        names = [name for name, _ in parsed]
        duplicates = ["Found duplicate Security protocols."] if len(set(names)) != len(names) else []
        return parsed, duplicates

    def _put_ssl(self, lb: LoadBalancer, _mapping: str, raw: bytes) -> _Reply:
        fields = _wrapped(raw, "sslTermination", self._SSL_FIELDS)
        cert, key = _opt_str(fields, "certificate"), _opt_str(fields, "privatekey")
        chain = _opt_str(fields, "intermediateCertificate")
        enabled, secure_only = _opt_bool(fields, "enabled"), _opt_bool(fields, "secureTrafficOnly")
        port, cipher = _opt_int(fields, "securePort"), _opt_str(fields, "cipherProfile")
        protocols, errors = self._security_protocols(fields)
        # [atlas] SslTerminationValidator (request shape).
        if "id" in fields:
            errors.append("Id field cannot be modified.")
        attributes = (enabled, secure_only, port, cipher)
        if all(v is None for v in (cert, key, chain, *attributes)) and not protocols:
            errors.append(MUST_SUPPLY)
        if (cert is None or (key is None and chain is None)) and all(v is None for v in attributes) \
                and not protocols:
            errors.append(MUST_SUPPLY)
        if (cert is None) != (key is None):
            errors.append(MUST_SUPPLY_CERT_KEY)
        if chain is not None and (cert is None or key is None):
            errors.append(MUST_SUPPLY_CERT_KEY)
        if cert is not None and key is not None and port is None:
            errors.append(MUST_SUPPLY)
        if errors:
            raise _validation_fault(errors)
        old = lb.ssl_termination
        if cert is not None and key is not None:
            # [atlas] SslTerminationResource: key, cert and intermediates checked together (ZeusUtils).
            bundle_errors = _check_bundle(key, cert, chain)
            if bundle_errors:
                raise _validation_fault(bundle_errors)
        # [atlas] SslTerminationServiceImpl.updateSslTermination, in its order.
        if lb.protocol in _SECURE_PROTOCOLS:
            raise _fault(400, "Can not create ssl termination on a load balancer using a secure protocol.")
        if lb.protocol in _NO_SSL_PROTOCOLS:
            raise _fault(400, f"Can not create ssl termination with '{lb.protocol}' protocol.")
        taken = sorted({lb.port, *lb.shared_vip_ports})
        if port is not None and not (old is not None and old.secure_port == port) and port in taken:
            raise _fault(400, f"Secure port: '{port}'  must be unique  Ports taken: '{','.join(map(str, taken))}'")
        if cipher is not None and cipher.strip() and cipher.strip().lower() != "default" \
                and cipher.strip() not in CIPHER_PROFILES:
            raise _fault(400, f"No Cipher Profile found with the name: '{cipher.strip()}'")
        if lb.https_redirect:
            if secure_only is False:
                raise _fault(400, "Cannot use 'mixed-mode' SSL termination while HTTPS Redirect is enabled.")
            if port is not None and port != 443:
                raise _fault(400, "Must use secure port 443 with HTTPS Redirect enabled.")
        if cert is None and old is None:
            raise _fault(400, "No ssl termination to update values for.")
        self._claim(lb)
        lb.ssl_termination = new = self._merged_ssl(old, cert, key, chain, enabled, secure_only, port, cipher,
                                                    protocols)
        status = 202 if self.atlas_status_codes else 200
        return _Reply(status, {"sslTermination": new.as_json()})

    @staticmethod
    def _merged_ssl(old: SslTermination | None, cert: str | None, key: str | None, chain: str | None,
                    enabled: bool | None, secure_only: bool | None, port: int | None, cipher: str | None,
                    protocols: Sequence[tuple[str, bool]]) -> SslTermination:
        """[atlas] SslTerminationHelper.verifyAttributes."""
        if old is None:
            assert cert is not None and key is not None and port is not None
            new = SslTermination(cert, key, None, secure_port=port)
        else:
            new = copy.deepcopy(old)
        for name, on in protocols:
            if name == "TLS_10":
                new.tls10_enabled = on
            else:
                new.tls11_enabled = on
        if enabled is not None:
            new.enabled = enabled
        if secure_only is not None:
            # Secure-only is dropped when termination is (or becomes) disabled, as in [atlas].
            new.secure_traffic_only = False if (enabled is False or (not new.enabled and (
                secure_only or new.secure_traffic_only))) else secure_only
        if port is not None:
            new.secure_port = port
        if cert is not None and key is not None:
            new.certificate, new.private_key = cert, key
            new.intermediate_certificate = _blank_to_none(chain)  # a new cert without a chain drops the old chain
        if cipher is not None:
            new.cipher_profile = "default" if not cipher.strip() or cipher.strip().lower() == "default" \
                else cipher.strip()
        return new

    def _delete_ssl(self, lb: LoadBalancer, _mapping: str, _raw: bytes) -> _Reply:
        # [atlas] SslTerminationServiceImpl.pseudoDeleteSslTermination; the listener then removes the termination and
        # every certificate mapping (DeleteSslTerminationListener) -- here when the load balancer settles.
        if lb.https_redirect:
            raise _fault(400, "Cannot delete SSL Termination while HTTPS Redirect is enabled. Please disable HTTPS "
                              "Redirect and retry the operation.")
        if lb.ssl_termination is None:
            raise _fault(400, "SSL termination could not be found for the requested loadbalancer.")

        def remove(target: LoadBalancer) -> None:
            target.ssl_termination = None
            target.certificate_mappings.clear()

        self._claim(lb, remove)
        return _Reply(202 if self.atlas_status_codes else 200)

    # -- /ssltermination/certificatemappings ------------------------------------------------------------------------

    _MAPPING_FIELDS = frozenset({"id", "hostName", "certificate", "privateKey", "intermediateCertificate"})

    @staticmethod
    def _require_ssl(lb: LoadBalancer) -> SslTermination:
        if lb.ssl_termination is None:  # [atlas] CertificateMappingServiceImpl.ensureSslTerminationConfigIsAvailable
            raise _fault(404, SSL_NOT_FOUND)
        return lb.ssl_termination

    @staticmethod
    def _mapping_of(lb: LoadBalancer, mapping_id: str) -> CertificateMapping:
        mapping = lb.certificate_mappings.get(int(mapping_id))
        if mapping is None:
            raise _fault(404, MAPPING_NOT_FOUND)
        return mapping

    def _list_mappings(self, lb: LoadBalancer, _mapping: str, _raw: bytes) -> _Reply:
        self._require_ssl(lb)
        return _Reply(200, {"certificateMappings": [
            {"certificateMapping": m.as_json(summary=True)}
            for m in sorted(lb.certificate_mappings.values(), key=lambda m: m.id)]})

    def _get_mapping(self, lb: LoadBalancer, mapping_id: str, _raw: bytes) -> _Reply:
        self._require_ssl(lb)
        return _Reply(200, {"certificateMapping": self._mapping_of(lb, mapping_id).as_json()})

    @staticmethod
    def _mapping_fields(raw: bytes, *, post: bool) -> dict[str, str]:
        """[atlas] CertificateMappingValidator."""
        fields = _wrapped(raw, "certificateMapping", _TerminationApi._MAPPING_FIELDS)
        values = {name: _opt_str(fields, name) for name in ("hostName", "certificate", "privateKey",
                                                             "intermediateCertificate")}
        errors: list[str] = []
        if "id" in fields:
            errors.append("Certificate mapping id field cannot be modified.")
        key, cert, chain, host = (values["privateKey"], values["certificate"], values["intermediateCertificate"],
                                  values["hostName"])
        if key is not None and _check_key(key)[1]:  # [atlas] PrivateKeyVerifier: parseKey accepts RSA only
            errors.append("Private key is invalid. Please provide a valid private key.")
        if cert is not None and _check_cert(cert)[1]:
            errors.append("Certificate is invalid. Please provide a valid certificate.")
        if chain is not None and chain.strip() and _check_chain(chain):
            errors.append("Intermediate certificate is invalid. Please provide a valid intermediate certificate.")
        if host is not None and not _HOST_NAME.match(host):
            errors.append("Host name is invalid. Please provide a valid host name.")
        if host is not None and len(host) > 128:
            errors.append("Host name is too long. Maximum length for the host name is 128 characters.")
        if post:
            if key is None:
                errors.append("Must provide a private key for the certificate mapping.")
            if cert is None:
                errors.append("Must provide a certificate for the certificate mapping.")
            if host is None:
                errors.append("Must provide a host name for the certificate mapping.")
        elif all(v is None for v in values.values()):
            errors.append("The certificate mapping must have at least one of the following to update: certificate, "
                          "privateKey, intermediateCertificate, or hostName.")
        if errors:
            raise _validation_fault(errors)
        return {name: value for name, value in values.items() if value is not None}

    @staticmethod
    def _check_unique_host(lb: LoadBalancer, host: str | None, mapping_id: int | None) -> None:
        for other in lb.certificate_mappings.values():
            if host is not None and other.host_name == host and other.id != mapping_id:
                raise _fault(422, f"Duplicate host name detected. Certificate mapping with id '{other.id}' has "
                                  "already configured the host name provided.")

    @staticmethod
    def _check_mapping_bundle(key: str, cert: str, chain: str | None) -> None:
        errors = _check_bundle(key, cert, chain)
        if errors:  # [atlas] SslTerminationHelper.verifyCertificationCredentials: one 400 message, comma-joined
            raise _fault(400, ", ".join(errors))

    def _post_mapping(self, lb: LoadBalancer, _mapping: str, raw: bytes) -> _Reply:
        values = self._mapping_fields(raw, post=True)
        self._require_ssl(lb)
        if len(lb.certificate_mappings) >= self.mapping_limit:  # an absolute limit: 413 without Retry-After
            raise _fault(413, f"Certificate mapping limit reached. Limit is set to '{self.mapping_limit}'. Please "
                              "contact support if you would like to increase your limit.")
        self._check_unique_host(lb, values["hostName"], None)
        chain = _blank_to_none(values.get("intermediateCertificate"))
        self._check_mapping_bundle(values["privateKey"], values["certificate"], chain)
        self._claim(lb)
        mapping = CertificateMapping(self._next_mapping_id, values["hostName"], values["certificate"],
                                     values["privateKey"], chain)
        self._next_mapping_id += 1
        lb.certificate_mappings[mapping.id] = mapping
        return _Reply(202, {"certificateMapping": mapping.as_json()})

    def _put_mapping(self, lb: LoadBalancer, mapping_id: str, raw: bytes) -> _Reply:
        values = self._mapping_fields(raw, post=False)
        self._require_ssl(lb)
        current = self._mapping_of(lb, mapping_id)
        self._check_unique_host(lb, values.get("hostName"), current.id)
        updated = copy.deepcopy(current)
        updated.host_name = values.get("hostName", updated.host_name)
        updated.certificate = values.get("certificate", updated.certificate)
        updated.private_key = values.get("privateKey", updated.private_key)
        if "intermediateCertificate" in values:
            updated.intermediate_certificate = _blank_to_none(values["intermediateCertificate"])
        self._check_mapping_bundle(updated.private_key, updated.certificate, updated.intermediate_certificate)
        self._claim(lb)
        lb.certificate_mappings[current.id] = updated
        return _Reply(202)

    def _delete_mapping(self, lb: LoadBalancer, mapping_id: str, _raw: bytes) -> _Reply:
        self._require_ssl(lb)
        mapping = self._mapping_of(lb, mapping_id)

        def remove(target: LoadBalancer) -> None:
            target.certificate_mappings.pop(mapping.id, None)

        self._claim(lb, remove)
        return _Reply(202)
