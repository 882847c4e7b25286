"""No secret of sslterm's reaches HAProxy (issue 6, item 2).

sslterm runs as an operator runs it, a real ``python -m sslterm`` with its secrets and cloud credentials
in its environment; a real HAProxy is started and reloaded by it; then what HAProxy holds is read from
the kernel (``/proc/PID/environ`` of the master and every worker) and from HAProxy itself (``show env`` on
its runtime API, what anyone with the socket gets).
"""

from __future__ import annotations

import ast
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_haproxy import LOCALHOST, Kit, fingerprint, free_ports, handshake, processes

from sslterm import childenv

pytestmark = pytest.mark.haproxy

SRC = Path(__file__).resolve().parents[2] / "src" / "sslterm"
SECRET_PREFIXES = ("SSLTERM_", "AWS_", "RACKSPACE_")


def secret_env(home: Path) -> dict[str, str]:
    """What an operator's shell may hold when running sslterm: every value is a marker to look for."""
    return {
        "SSLTERM_SECRET_KEY": "marker-secret-key-0123456789abcdef0123456789",
        "SSLTERM_DATABASE_URL": f"sqlite:///{home}/store.db",
        "AWS_SECRET_ACCESS_KEY": "marker-aws-secret-access-key",
        "AWS_ACCESS_KEY_ID": "AKIAMARKERMARKER",
        "RACKSPACE_API_KEY": "marker-rackspace-api-key",
        "RACKSPACE_USERNAME": "marker-rackspace-user",
    }


def run_with_secrets(home: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    env.update(secret_env(home), SSLTERM_HOME=str(home), COLUMNS="200", NO_COLOR="1", **(extra or {}))
    return subprocess.run([sys.executable, "-m", "sslterm", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def admin_command(path: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: sock.recv(65536), b"")).decode(errors="replace")


def assert_no_secret(where: str, text_or_env: str | dict[str, str], home: Path) -> None:
    text = text_or_env if isinstance(text_or_env, str) else "\n".join(f"{k}={v}" for k, v in text_or_env.items())
    leaked = [ln for ln in text.splitlines() if ln.startswith(SECRET_PREFIXES)]
    assert not leaked, f"{where} holds {leaked}"
    for value in secret_env(home).values():
        assert value not in text, f"{where} holds the value of a secret"


def add_and_enable(kit: Kit, *, extra: dict[str, str] | None = None) -> tuple[int, int]:
    """``cert add``, ``lb add`` (HAProxy starts) and ``enable`` (HAProxy reloads), all by the CLI."""
    site = kit.issue("env.test")
    folder = kit.home / "input"
    folder.mkdir(exist_ok=True)
    (folder / "cert.pem").write_bytes(site.cert_pem() + site.chain_pem())
    (folder / "key.pem").write_bytes(site.key_pem())
    tls, plain = free_ports(2)
    steps = [
        ("cert", "add", "site", "--cert", str(folder / "cert.pem"), "--key", str(folder / "key.pem")),
        ("lb", "add", "edge", "--kind", "haproxy", "--bind", f"{LOCALHOST}:{tls}", "--http-bind",
         f"{LOCALHOST}:{plain}", "--backend", f"{LOCALHOST}:{kit.app.port}"),
        ("enable", "edge", "--cert", "site"),
    ]
    for args in steps:
        done = run_with_secrets(kit.home, *args, extra=extra)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert handshake(tls, "env.test").fingerprint == fingerprint(site)
    return tls, plain


def test_the_managed_haproxy_holds_no_secret_of_sslterm(kit: Kit) -> None:
    add_and_enable(kit)
    lb_dir = kit.lb_dir("edge")
    procs = processes(lb_dir)
    assert procs.reloads >= 1  # the worker read here was forked by a reload, not only by the start

    for pid in (procs.master, *procs.workers):
        env = environ_of(pid)
        assert_no_secret(f"/proc/{pid}/environ", env, kit.home)
        assert env.get("PATH") == childenv.SYSTEM_PATH
    shown = admin_command(lb_dir / "admin.sock", "show env")
    assert "PATH=" in shown, shown  # the runtime API answered
    assert_no_secret("`show env` on the runtime API", shown, kit.home)


def test_every_haproxy_command_runs_with_the_minimal_environment(kit: Kit) -> None:
    """``haproxy -v``, ``haproxy -c`` and the master-worker start, seen from inside: a wrapper named by
    SSLTERM_HAPROXY records the environment the kernel handed it (``/proc/$$/environ``), then becomes the
    real HAProxy."""
    record = kit.home / "children.txt"
    wrapper = kit.home / "haproxy-wrapper"
    wrapper.write_text("#!/bin/sh\n"
                       f"{{ printf 'ARGS %s\\n' \"$*\"; tr '\\000' '\\n' < /proc/$$/environ; echo END; }} >> {record}\n"
                       "exec /usr/sbin/haproxy \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    add_and_enable(kit, extra={"SSLTERM_HAPROXY": str(wrapper)})

    runs = [block.strip().splitlines() for block in record.read_text().split("END\n") if block.strip()]
    kinds = {next((flag for flag in ("-v", "-c", "-W") if flag in run[0].split()), run[0]) for run in runs}
    assert {"-v", "-c", "-W"} <= kinds, [run[0] for run in runs]
    for run in runs:
        env = dict(line.split("=", 1) for line in run[1:] if "=" in line)
        assert env == childenv.minimal(), (run[0], sorted(env))


def test_only_childenv_starts_programs() -> None:
    """Every child process goes through ``sslterm.childenv``: no other module may import ``subprocess`` or
    call ``os.system``, ``os.exec*``, ``os.spawn*``, ``os.posix_spawn*`` or ``os.popen``."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "childenv.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] == "subprocess" for n in names):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} imports subprocess")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr.startswith(("system", "exec", "spawn", "posix_spawn", "popen", "fork")):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} calls os.{node.attr}")
    assert not offenders, offenders


def test_a_program_is_run_by_the_path_sslterm_finds_and_with_nothing_else() -> None:
    """``haproxy`` is looked up on sslterm's PATH (as documented), the child gets the system PATH only."""
    found = Path(childenv.resolve("haproxy"))
    assert found.is_absolute() and found.samefile("/usr/sbin/haproxy")
    done = childenv.run(["env"], timeout=10)
    assert done.returncode == 0
    assert dict(ln.split("=", 1) for ln in done.stdout.decode().splitlines()) == childenv.minimal()
