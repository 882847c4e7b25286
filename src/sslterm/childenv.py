"""The one place sslterm starts other programs (``haproxy -v``, ``haproxy -c``, the managed HAProxy), and
the one environment they get.

A child never inherits sslterm's environment: it holds ``SSLTERM_SECRET_KEY`` (which decrypts every stored
private key), ``SSLTERM_DATABASE_URL`` (often with a password), cloud credentials (``AWS_*``,
``RACKSPACE_*``) and whatever else the operator's shell exported, and HAProxy hands its environment to
anyone on its runtime API (``show env``) and keeps it for the life of the process (``/proc/PID/environ``).
So the environment is built here from constants, never copied, and holds only:

- ``PATH``: the system directories, so a child that runs another program by name finds the system's;
- ``LANG=C.UTF-8``: stable, untranslated messages (sslterm reads HAProxy's ``[ALERT]`` lines) and UTF-8 paths.

Deliberately left out: ``HOME`` (HAProxy reads no dotfile), ``TZ`` (without it the C library uses the
system's ``/etc/localtime``, as a service started by init would), ``OPENSSL_CONF`` and ``LD_*`` (a
child behaves as the system's HAProxy does, not as the caller's shell tuned it).

The program itself is looked up on sslterm's own ``PATH`` before the call (``haproxy`` from ``PATH``, or
``SSLTERM_HAPROXY``, as documented), then started by its absolute path.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from typing import IO

#: where a child looks for programs it runs by name (the system's, never the caller's)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def minimal() -> dict[str, str]:
    """The whole environment of every child process (a new dict each time: callers may not share it)."""
    return {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}


def resolve(program: str) -> str:
    """``program`` as an absolute path, looked up on sslterm's ``PATH`` (the child's own PATH is the system's,
    so a HAProxy the operator put elsewhere on theirs is still the one run). Unknown: returned as given, so
    the failure to run it names it."""
    if "/" in program:
        return program
    return shutil.which(program) or program


#: a long-lived child (:func:`spawn`)
Child = subprocess.Popen[bytes]


def run(argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run a short command to completion with the minimal environment; output captured, stdin closed.
    Raises OSError when it cannot be started, TimeoutError (an OSError too) when it outlives ``timeout``
    (it is killed), so a caller handles both with one ``except OSError``."""
    try:
        return subprocess.run([resolve(argv[0]), *argv[1:]], env=minimal(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False, cwd="/")
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"{argv[0]} did not finish within {timeout:g} s") from exc


#: long-lived children this process started, by pid, until :func:`reap` sees them exit
_children: dict[int, Child] = {}


def spawn(argv: Sequence[str], *, output: IO[bytes]) -> Child:
    """Start a long-lived program in a session of its own (a Ctrl-C or a closed terminal meant for sslterm
    does not reach it), with the minimal environment, stdin closed and stdout/stderr appended to ``output``.
    Raises OSError when it cannot be started."""
    reap()
    child = subprocess.Popen([resolve(argv[0]), *argv[1:]], env=minimal(), stdin=subprocess.DEVNULL,
                             stdout=output, stderr=output, cwd="/", start_new_session=True)
    _children[child.pid] = child
    return child


def reap() -> None:
    """Collect the exit status of every child :func:`spawn` started that has exited since. A long-running
    sslterm (the API server, a test session) would otherwise keep each HAProxy it stopped as a zombie, and
    Python warns about a process object dropped while its child still runs; so each one is kept here."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            _children.pop(pid, None)
