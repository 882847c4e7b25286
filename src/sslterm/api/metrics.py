"""``/metrics``: Prometheus text, read from the store and the load balancers at each scrape.

- ``sslterm_certificate_expiry_seconds{certificate}``: seconds until the certificate expires (negative:
  expired);
- ``sslterm_listener_served_ok{load_balancer,lb_port,certificate}``: 1 when a client is served what the
  store says (``sslterm status`` shows ``ok``), else 0;
- ``sslterm_deployments{state}``: deployments in the journal, by state; a gauge, not a counter: those
  ``applying`` or ``pending`` go down as they finish.

One registry per app (no process-wide global), so two apps in one process never share a metric."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from sslterm.api.state import ApiState


class ServiceCollector(Collector):
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        service = self.state.service()
        try:
            now = service.clock()
            expiry = GaugeMetricFamily("sslterm_certificate_expiry_seconds",
                                       "Seconds until the certificate expires", labels=["certificate"])
            for name, not_after in service.expiry_dates():
                expiry.add_metric([name], (not_after - now).total_seconds())
            served = GaugeMetricFamily("sslterm_listener_served_ok", "1 when clients are served what the "
                                       "store says (status ok)", labels=["load_balancer", "lb_port", "certificate"])
            for row in service.status():
                served.add_metric([row.load_balancer, str(row.lb_port), row.certificate], float(row.state == "ok"))
            deployments = GaugeMetricFamily("sslterm_deployments", "Deployments in the journal, by state",
                                            labels=["state"])
            for state, count in sorted(service.deployment_counts().items()):
                deployments.add_metric([state], count)
        finally:
            service.close()
        yield from (expiry, served, deployments)


def install(app: FastAPI, state: ApiState) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(state))

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text (needs the token)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
