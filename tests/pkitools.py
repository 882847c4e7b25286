"""Real certificates and keys for the tests, made with ``cryptography`` (and ``openssl`` for SHA-1).

Nothing here imitates sslterm: every certificate is a genuine X.509 certificate signed by a genuine key,
so a check that passes or fails here passes or fails on an operator's files too.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The fixed "now" of every test that goes through the service or the core (a clock is injected).
NOW = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)

OPENSSL = "/usr/bin/openssl"
SERVER_AUTH = (ExtendedKeyUsageOID.SERVER_AUTH,)

_EC_CACHE: list[ec.EllipticCurvePrivateKey] = []


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def dn(cn: str, org: str = "sslterm tests") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Node:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: object = field(repr=False)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def key_bytes(self, fmt: str = "pkcs8", passphrase: bytes | None = None, *, der: bool = False) -> bytes:
        return key_bytes(self.key, fmt, passphrase, der=der)


def key_bytes(key: object, fmt: str = "pkcs8", passphrase: bytes | None = None, *, der: bool = False) -> bytes:
    """``fmt``: ``pkcs8`` (BEGIN [ENCRYPTED] PRIVATE KEY) or ``traditional`` (BEGIN RSA/EC PRIVATE KEY)."""
    private_format = {"pkcs8": serialization.PrivateFormat.PKCS8,
                      "traditional": serialization.PrivateFormat.TraditionalOpenSSL}[fmt]
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    return key.private_bytes(encoding, private_format, encryption)  # type: ignore[attr-defined]


def make_cert(cn: str, public_key: object, *, issuer: Node | None, signing_key: object | None = None,
              ca: bool = False, not_before: datetime, not_after: datetime, sans: Sequence[str] = (),
              eku: Sequence[x509.ObjectIdentifier] | None = SERVER_AUTH,
              hash_alg: hashes.HashAlgorithm | None = None) -> x509.Certificate:
    """One certificate; ``issuer`` None means self-signed with ``signing_key``."""
    subject = dn(cn)
    issuer_name = issuer.cert.subject if issuer else subject
    key = issuer.key if issuer else signing_key
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(public_key)  # type: ignore[arg-type]
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]),
                                        critical=False)
    if not ca and eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hash_alg or hashes.SHA256()
    return builder.sign(key, algorithm)  # type: ignore[arg-type]


class Pki:
    """A root and ``depth`` intermediates below it (root -> inter1 -> inter2 ...), valid around ``now``."""

    def __init__(self, label: str = "Test", *, now: datetime = NOW, depth: int = 1) -> None:
        self.label = label
        self.now = now
        root_key = ec_key()
        start, end = now - timedelta(days=365), now + timedelta(days=3650)
        self.root = Node(make_cert(f"{label} Root CA", root_key.public_key(), issuer=None, signing_key=root_key,
                                   ca=True, not_before=start, not_after=end), root_key)
        self.intermediates: list[Node] = []
        parent = self.root
        for level in range(1, depth + 1):
            key = ec_key()
            node = Node(make_cert(f"{label} Intermediate {level}", key.public_key(), issuer=parent, ca=True,
                                  not_before=start, not_after=end), key)
            self.intermediates.append(node)
            parent = node

    @property
    def issuer(self) -> Node:
        return self.intermediates[-1] if self.intermediates else self.root

    @property
    def chain(self) -> list[Node]:
        """Issuer of the leaf first, as served."""
        return list(reversed(self.intermediates))

    @property
    def chain_pem(self) -> bytes:
        return b"".join(n.pem for n in self.chain)

    def leaf(self, *names: str, key: object | None = None, days: float = 90, not_before: datetime | None = None,
             not_after: datetime | None = None, eku: Sequence[x509.ObjectIdentifier] | None = SERVER_AUTH,
             issuer: Node | None = None) -> Node:
        names = names or ("www.example.test",)
        key = key if key is not None else ec_key()
        start = not_before or self.now - timedelta(days=1)
        end = not_after or self.now + timedelta(days=days)
        cert = make_cert(names[0], key.public_key(), issuer=issuer or self.issuer,  # type: ignore[attr-defined]
                         not_before=start, not_after=end, sans=names, eku=eku)
        return Node(cert, key)


def pems(*nodes: Node) -> bytes:
    return b"".join(n.pem for n in nodes)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def pkcs12_bytes(leaf: Node, cas: Iterable[Node], passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
    return pkcs12.serialize_key_and_certificates(
        b"sslterm-test", leaf.key, leaf.cert, [n.cert for n in cas], encryption)  # type: ignore[arg-type]


# -- what must never leak -------------------------------------------------------------------------


def _private_number(key: object) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        d = key.private_numbers().d
        return d.to_bytes((d.bit_length() + 7) // 8, "big")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        v = key.private_numbers().private_value
        return v.to_bytes((key.curve.key_size + 7) // 8, "big")
    raise TypeError(type(key))


def key_fragments(key: object) -> list[bytes]:
    """Byte strings any one of which, seen in an output, file or message, means the key leaked."""
    found: list[bytes] = [b"PRIVATE KEY-----"]
    for fmt in ("pkcs8", "traditional"):
        pem = key_bytes(key, fmt)
        found += [line for line in pem.splitlines() if len(line) >= 40 and not line.startswith(b"-----")]
        found.append(key_bytes(key, fmt, der=True))
        found.append(base64.b64encode(key_bytes(key, fmt, der=True))[:48])
    secret = _private_number(key)
    found += [secret, secret.hex().encode(), secret.hex().upper().encode(), str(int.from_bytes(secret)).encode()]
    return found


def assert_no_key_material(blob: bytes | str, *keys: object) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for key in keys:
        for fragment in key_fragments(key):
            assert fragment not in data, f"private key material leaked: {fragment[:24]!r}..."


# -- openssl, for what cryptography refuses to make (SHA-1 signatures) ----------------------------


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def sha1_self_signed(workdir: Path, cn: str = "sha1.example.test") -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a self-signed RSA-2048 server certificate signed with SHA-1."""
    openssl("req", "-x509", "-sha1", "-newkey", "rsa:2048", "-nodes", "-keyout", "sha1.key", "-out", "sha1.crt",
            "-days", "30", "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}",
            "-addext", "extendedKeyUsage=serverAuth", cwd=workdir)
    return (workdir / "sha1.crt").read_bytes(), (workdir / "sha1.key").read_bytes()


def sha1_signed_by(workdir: Path, issuer: Node, *, cn: str, ca: bool, tag: str) -> Node:
    """A certificate for a fresh EC key, signed by ``issuer`` with SHA-1 (valid around the real now)."""
    write(workdir / f"{tag}-issuer.crt", issuer.pem)
    write(workdir / f"{tag}-issuer.key", key_bytes(issuer.key))
    key = ec_key()
    write(workdir / f"{tag}.key", key_bytes(key))
    ext = ("basicConstraints=critical,CA:TRUE\n" if ca else
           f"basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:{cn}\n")
    write(workdir / f"{tag}.ext", ext.encode())
    openssl("req", "-new", "-key", f"{tag}.key", "-subj", f"/O=sslterm tests/CN={cn}", "-out", f"{tag}.csr",
            cwd=workdir)
    openssl("x509", "-req", "-sha1", "-in", f"{tag}.csr", "-CA", f"{tag}-issuer.crt", "-CAkey",
            f"{tag}-issuer.key", "-CAcreateserial", "-days", "60", "-extfile", f"{tag}.ext", "-out", f"{tag}.crt",
            cwd=workdir)
    return Node(x509.load_pem_x509_certificate((workdir / f"{tag}.crt").read_bytes()), key)


# -- the command line, through its real entry point -------------------------------------------------


@dataclass
class Cli:
    """Runs ``python -m sslterm`` with its own data directory, as an operator's shell would."""

    home: Path
    secret_key: str | None = None

    def env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home.parent),
               "SSLTERM_HOME": str(self.home), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        if self.secret_key:
            env["SSLTERM_SECRET_KEY"] = self.secret_key
        return env

    def __call__(self, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sslterm", *map(str, args)], env=self.env(), cwd=cwd,
                              capture_output=True, text=True, timeout=60, check=False)


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr


def assert_error(proc: subprocess.CompletedProcess[str], code: str, exit_code: int) -> None:
    """Exit code, an ``error[CODE]: ...`` line on stderr, no traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == exit_code, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    lines = proc.stderr.splitlines()
    assert any(line.startswith(f"error[{code}]: ") for line in lines), proc.stderr


def error_codes(stderr: str) -> set[str]:
    return {line.split("]", 1)[0].removeprefix("error[") for line in stderr.splitlines()
            if line.startswith("error[")}


def warning_codes(text: str) -> set[str]:
    return {line.split("]", 1)[0].removeprefix("warning[") for line in text.splitlines()
            if line.startswith("warning[")}
