"""Load balancer use cases."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from sslterm import ports
from sslterm.certs.names import name_problem
from sslterm.engine.contract import Provider
from sslterm.engine.model import INSTANCE_PROTOCOLS, TLS_PROFILES
from sslterm.errors import (
    AlreadyExists,
    InputError,
    InUse,
    SSLTermError,
    UnsafePlan,
)
from sslterm.ports import LocalEndpoint
from sslterm.providers import registry
from sslterm.service.context import Context
from sslterm.service.deployments import Deployments
from sslterm.service.pages import Page
from sslterm.service.rollout import Outcome, needs_default, summary
from sslterm.store import certificates as rows
from sslterm.store import journal
from sslterm.store import loadbalancers as lb_rows
from sslterm.store.schema import LoadBalancerRow


def merge_settings(current: dict[str, object] | None, **given: object) -> dict[str, object]:
    """A listener's settings: what was given, else what it has, else the defaults."""
    defaults: dict[str, object] = {"instance_port": None, "instance_protocol": "HTTP", "redirect_http": False,
                                   "hsts": False, "tls_profile": "intermediate"}
    merged = {k: given[k] if given.get(k) is not None else (current or defaults).get(k, v)
              for k, v in defaults.items()}
    if merged["tls_profile"] not in TLS_PROFILES:
        raise InputError(f"unknown TLS profile {merged['tls_profile']!r}", hint=f"one of {', '.join(TLS_PROFILES)}")
    if str(merged["instance_protocol"]).upper() not in INSTANCE_PROTOCOLS:
        raise InputError(f"instance protocol must be one of {', '.join(INSTANCE_PROTOCOLS)}")
    merged["instance_protocol"] = str(merged["instance_protocol"]).upper()
    port = merged["instance_port"]
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise InputError(f"instance port {port} is not 1-65535")
    return merged



class LoadBalancers:
    """Load balancer use cases: register (refusing taken ports), list, show, remove, enable and disable TLS."""

    def __init__(self, ctx: Context, deployments: Deployments) -> None:
        self.ctx = ctx
        self.deployments = deployments

    def add_load_balancer(self, name: str, kind: str, options: dict[str, Any]) -> dict[str, object]:
        """Register and start a load balancer; ``options`` by the CLI's flag names with ``_`` (an empty value:
        not given). Refused (``port-taken``, ``port-in-use``) when it would listen
        where another one or another program does; a refusal or a failed start leaves nothing behind: no
        row, no directory, no process."""
        problem = name_problem(name, "load balancer")
        if problem:
            raise InputError(problem.message, code=problem.code, hint=problem.hint)
        _, validate = registry.lookup(kind)
        clean = validate({key: value for key, value in options.items() if value})  # empty: not given
        remote = kind not in registry.OWNED_KINDS  # a cloud load balancer: start() asks it whether it exists
        if remote:  # a network call, so before the transaction (no transaction is held across one)
            self.ctx.forget_provider(name)
            self.ctx.provider(LoadBalancerRow(name=name, kind=kind, options=clean)).start()
        started: Provider | None = None
        try:
            with self.ctx.db.transaction() as session:
                if lb_rows.get(session, name) is not None:
                    raise AlreadyExists(f"a load balancer named {name!r} exists", hint="choose another name")
                lb = LoadBalancerRow(name=name, kind=kind, options=clean, created_at=self.ctx.clock(),
                                     owner=self.ctx.controller if kind in registry.OWNED_KINDS else None)
                self.ctx.forget_provider(name)  # a provider cached under this name knows old options
                session.add(lb)
                session.flush()
                provider = self.ctx.provider(lb)
                lb.scope = provider.scope
                self._refuse_port_clash(session, name, self._endpoints(lb), hint="choose another --bind or "
                                        "--http-bind (HOST:PORT)")
                started = provider
                if not remote:  # a local HAProxy: started under the transaction that checked its ports
                    provider.start()
                rows.audit(session, self.ctx.clock(), "lb.add", f"lb/{name}", None, kind)
                added = summary(lb)
        except BaseException:
            self.ctx.forget_provider(name)
            if started is not None:  # its files, sockets and process; the transaction takes the row back
                with contextlib.suppress(SSLTermError):
                    started.stop()
            raise
        return added

    def _endpoints(self, lb: LoadBalancerRow) -> tuple[LocalEndpoint, ...]:
        """Where ``lb`` listens, or will: its plain HTTP bind, its default lb port and every port it serves."""
        provider = self.ctx.provider(lb)
        return provider.local_endpoints({provider.default_lb_port, *(t.lb_port for t in lb.terminations)})

    def _refuse_port_clash(self, session: Session, name: str, wanted: Sequence[LocalEndpoint], *,
                           hint: str) -> None:
        """``port-taken`` when another load balancer in the store uses one of ``wanted``, else ``port-in-use``
        when something on this machine listens there (the caller passes only endpoints ``name`` does not
        listen on yet, so its own HAProxy never counts)."""
        others: dict[str, tuple[LocalEndpoint, ...]] = {}
        for lb in lb_rows.all_rows(session):
            # a cloud load balancer listens on no port of this machine; another controller's runs elsewhere
            if lb.name != name and lb.kind in registry.OWNED_KINDS and not self.ctx.owned_elsewhere(lb):
                # one whose provider cannot be built: the local check still sees its sockets
                with contextlib.suppress(SSLTermError):
                    others[lb.name] = self._endpoints(lb)
        ports.refuse_taken(name, wanted, others, hint=hint)
        ports.refuse_in_use(name, wanted, hint=hint)

    def list_load_balancers(self) -> list[dict[str, object]]:
        with self.ctx.db.transaction(write=False) as session:
            return [summary(lb) for lb in lb_rows.all_rows(session)]

    def load_balancers_page(self, limit: int, offset: int = 0) -> Page[dict[str, object]]:
        return Page.of(self.list_load_balancers(), limit, offset)

    def show_load_balancer(self, name: str) -> dict[str, object]:
        with self.ctx.db.transaction(write=False) as session:
            return summary(self.ctx.lb(session, name))

    def remove_load_balancer(self, name: str) -> None:
        with self.ctx.db.transaction() as session:
            lb = self.ctx.lb(session, name)
            if self.ctx.owned_elsewhere(lb):
                raise UnsafePlan(f"load balancer {name!r} runs beside another controller ({lb.owner})",
                                 code="owned-elsewhere", hint="remove it from that controller")
            if lb.terminations:
                ports = sorted({t.lb_port for t in lb.terminations})
                raise InUse(f"load balancer {name!r} still terminates TLS on port(s) {ports}",
                            hint=f"disable it first: sslterm disable {name} --lb-port PORT")
            provider = self.ctx.provider(lb)
            self.ctx.forget_provider(name)  # a later load balancer of this name gets its own
            session.delete(lb)
            rows.audit(session, self.ctx.clock(), "lb.remove", f"lb/{name}")
            session.flush()
            provider.stop(keep_files=True)  # a failure to stop keeps the row; a failed commit can restart it
        provider.stop()  # the store has forgotten it: now its files go

    def enable(self, lb_name: str, cert_name: str, *, lb_port: int | None = None, instance_port: int | None = None,
               instance_protocol: str | None = None, redirect_http: bool | None = None, hsts: bool | None = None,
               tls_profile: str | None = None, dry_run: bool = False, batch: str | None = None) -> Outcome:
        """Terminate TLS on ``lb_port`` with ``cert_name`` (added after the listener's other certificates);
        options left None keep the listener's current value, or the default for a new listener."""
        with self.deployments.changing(f"lb/{lb_name}", lbs=[lb_name], dry_run=dry_run,
                                           batch=batch) as change:
            session = change.session
            lb = self.ctx.lb(session, lb_name, listeners=False)  # a listener may have thousands of certificates
            cert = self.ctx.cert(session, cert_name)
            provider = self.ctx.provider(lb)
            port = lb_port or provider.default_lb_port
            if port not in lb_rows.ports(session, lb) and not self.ctx.owned_elsewhere(lb):
                self._refuse_port_clash(session, lb.name, provider.local_endpoints([port], http=False),
                                        hint="choose another --lb-port")
            settings = merge_settings(lb_rows.listener_settings(lb, port), instance_port=instance_port,
                                      instance_protocol=instance_protocol, redirect_http=redirect_http, hsts=hsts,
                                      tls_profile=tls_profile)
            first = needs_default(lb, cert, port, provider)  # no DNS name: only the default can serve it
            change.keep(journal.listeners_snapshot(session, lb))
            lb_rows.add_termination(session, lb, cert, port, settings, self.ctx.clock(), first=first)
            return change.deploy(lb)

    def disable(self, lb_name: str, *, lb_port: int | None = None, cert_name: str | None = None,
                dry_run: bool = False, batch: str | None = None) -> Outcome:
        """Stop terminating TLS on ``lb_port`` (or only drop ``cert_name`` from it). Already so: nothing is
        removed, and the load balancer is brought to what the store says, like any re-run."""
        with self.deployments.changing(f"lb/{lb_name}", lbs=[lb_name], dry_run=dry_run,
                                           batch=batch) as change:
            lb = self.ctx.lb(change.session, lb_name)
            port = lb_port or self.ctx.provider(lb).default_lb_port
            change.keep(journal.listeners_snapshot(change.session, lb))
            lb_rows.remove_terminations(lb, port, cert_name)
            return change.deploy(lb)
