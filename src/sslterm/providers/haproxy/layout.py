"""Where a load balancer's files live under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "haproxy.cfg"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def admin_socket(self) -> Path:
        return self.root / "admin.sock"

    @property
    def master_socket(self) -> Path:
        return self.root / "master.sock"

    @property
    def pid_file(self) -> Path:
        return self.root / "haproxy.pid"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def change(self) -> Path:
        """The mark of a change under way (state.Change): present after a crash interrupted one."""
        return self.root / "change.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def crt_list(self, lb_port: int) -> Path:
        return self.root / f"crt-list-{lb_port}.txt"

    def pem(self, cert_name: str) -> Path:
        # *.pem, never *.crt: Debian's 2.6.12 cannot update *.crt through the runtime API
        return self.certs / f"{cert_name}.pem"

    def staged(self, fingerprint: str) -> Path:
        return self.staging / f"{fingerprint}.pem"
