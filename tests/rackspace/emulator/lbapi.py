"""The load balancer resources: routing under /loadbalancers, limits, details and PUT /loadbalancers/{id}."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from .model import LoadBalancer, _Route
from .texts import _ALGORITHMS, _PROTOCOLS, _UNITS, LB_NOT_FOUND
from .wire import _empty, _fault, _iso, _opt_bool, _opt_int, _opt_str, _Reply, _validation_fault, _wrapped


class _LoadBalancerApi:
    """/loadbalancers, /limits and PUT /loadbalancers/{id}."""

    def _api(self, method: str, region: str, rest: str, raw: bytes) -> _Reply:
        if rest == "/limits":
            return self._only(method, "GET") or self._limits_reply()
        if rest == "/loadbalancers/absolutelimits":
            return self._only(method, "GET") or self._absolute_limits_reply()
        if rest == "/loadbalancers":
            return self._only(method, "GET") or _Reply(200, {"loadBalancers": [
                self._lb_summary(lb) for lb in sorted(self._lbs.values(), key=lambda x: x.id)
                if lb.region == region]})
        match = re.fullmatch(r"/loadbalancers/(?P<id>[0-9]+)(?P<sub>/.*)?", rest)
        if match is None:
            raise _fault(404, "Object not Found")
        lb = self._lbs.get(int(match["id"]))
        if lb is None or lb.region != region:
            raise _fault(404, LB_NOT_FOUND)
        sub = match["sub"] or ""
        routes: dict[tuple[str, str], _Route] = {
            ("", "GET"): lambda b, _s, _r: _Reply(200, {"loadBalancer": self._lb_json(b)}),
            ("", "PUT"): self._put_load_balancer,
            ("/ssltermination", "GET"): self._get_ssl,
            ("/ssltermination", "PUT"): self._put_ssl,
            ("/ssltermination", "DELETE"): self._delete_ssl,
            ("/ssltermination/certificatemappings", "GET"): self._list_mappings,
            ("/ssltermination/certificatemappings", "POST"): self._post_mapping,
            ("/mapping", "GET"): self._get_mapping,
            ("/mapping", "PUT"): self._put_mapping,
            ("/mapping", "DELETE"): self._delete_mapping,
        }
        mapping = re.fullmatch(r"/ssltermination/certificatemappings/(?P<mid>[-+]?[1-9][0-9]{0,9})", sub)
        key, mapping_id = ("/mapping", mapping["mid"]) if mapping else (sub, "")
        if not any(k == key for k, _ in routes):
            raise _fault(404, "Object not Found")
        route = routes.get((key, method))
        if route is None:
            raise _empty(405)
        return route(lb, mapping_id, raw)

    @staticmethod
    def _only(method: str, allowed: str) -> _Reply | None:
        return None if method == allowed else _Reply(405)

    def _limits_reply(self) -> _Reply:
        now = time.time()
        limits = []
        for limit in self.rate_limits:
            hits = [h for h in self._hits.get(limit, ()) if h > now - _UNITS[limit.unit]]
            limits.append({"verb": limit.verb.upper(), "value": limit.value, "unit": limit.unit,
                           "remaining": max(0, limit.value - len(hits)),
                           "next-available": _iso(hits[0] + _UNITS[limit.unit] if len(hits) >= limit.value
                                                  else now, millis=True)})
        return _Reply(200, {"limits": {"rate": [{"uri": "/v1.0/*", "regex": ".*/([0-9]+)/loadbalancers.*",
                                                 "limit": limits}]}})

    def _absolute_limits_reply(self) -> _Reply:
        return _Reply(200, {"absolute": [  # [docs] limits.rst "Absolute limits"
            {"name": "IPV6_LIMIT", "value": 25}, {"name": "LOADBALANCER_LIMIT", "value": 25},
            {"name": "BATCH_DELETE_LIMIT", "value": 10}, {"name": "ACCESS_LIST_LIMIT", "value": 100},
            {"name": "NODE_LIMIT", "value": 25}, {"name": "NODE_META_LIMIT", "value": 25},
            {"name": "CERTIFICATE_MAPPING_LIMIT", "value": self.mapping_limit},
            {"name": "LOADBALANCER_META_LIMIT", "value": 25}]})

    @staticmethod
    def _vips(lb: LoadBalancer) -> list[dict[str, object]]:
        return [{"id": 1000 + lb.id, "address": f"203.0.113.{lb.id % 250 + 1}", "type": "PUBLIC",
                 "ipVersion": "IPV4"}]

    def _lb_summary(self, lb: LoadBalancer) -> dict[str, object]:
        return {"name": lb.name, "id": lb.id, "protocol": lb.protocol, "port": lb.port, "algorithm": lb.algorithm,
                "status": lb.status, "nodeCount": len(lb.nodes), "timeout": lb.timeout,
                "virtualIps": self._vips(lb), "created": {"time": _iso(lb.created)},
                "updated": {"time": _iso(lb.updated)}}

    def _lb_json(self, lb: LoadBalancer) -> dict[str, object]:
        """[docs] get-show-load-balancer-details: the fields a client reads (no health monitor, throttle, ...)."""
        return {
            "id": lb.id, "name": lb.name, "protocol": lb.protocol, "port": lb.port, "algorithm": lb.algorithm,
            "status": lb.status, "timeout": lb.timeout, "virtualIps": self._vips(lb),
            "nodes": [{"id": 2000 + i, "address": address, "port": port, "condition": "ENABLED", "status": "ONLINE"}
                      for i, (address, port) in enumerate(lb.nodes)],
            "cluster": {"name": f"c1.{lb.region.lower()}1"},
            "created": {"time": _iso(lb.created)}, "updated": {"time": _iso(lb.updated)},
            "sourceAddresses": {"ipv6Public": "2001:db8:79f1:1::3/64", "ipv4Servicenet": "10.0.0.10",
                                "ipv4Public": "198.51.100.28"},
            "httpsRedirect": lb.https_redirect, "connectionLogging": {"enabled": False},
            "contentCaching": {"enabled": False},
        }

    # -- PUT /loadbalancers/{id} ------------------------------------------------------------------------------------

    _LB_UPDATABLE = frozenset({"name", "algorithm", "protocol", "port", "timeout", "halfClosed", "httpsRedirect"})
    _LB_MODEL = _LB_UPDATABLE | frozenset({
        "id", "status", "cluster", "created", "updated", "sslTermination", "nodes", "virtualIps", "metadata",
        "sessionPersistence", "healthMonitor", "connectionThrottle", "accessList", "connectionLogging",
        "contentCaching", "sourceAddresses", "loadBalancerUsage"})
    _LB_READ_ONLY: Mapping[str, str] = {  # [atlas] LoadBalancerValidator
        "id": "Load balancer id field cannot be modified.",
        "status": "Load balancer status field cannot be modified.",
        "cluster": "Load balancer cluster field cannot be modified.",
        "created": "Load balancer created field cannot be modified.",
        "updated": "Load balancer updated field cannot be modified.",
        "loadBalancerUsage": "Load balancer current usage field cannot be modified.",
        "sslTermination": ("Please visit {account id}/loadbalancers/{load balancer id}/ssltermination to configure "
                           "ssl termination."),
        "nodes": "Please visit {account id}/loadbalancers/{load balancer id}/nodes to configure nodes.",
        "metadata": "Please visit {account id}/loadbalancers/{load balancer id}/metadata to configure metadata.",
        "virtualIps": ("Please visit {account id}/loadbalancers/{load balancer id}/virtualips/{virtual ip id} to "
                       "configure a virtual ip."),
        "sessionPersistence": ("Please visit {account id}/loadbalancers/{load balancer id}/sessionpersistence to "
                               "configure session persistence."),
        "healthMonitor": ("Please visit {account id}/loadbalancers/{load balancer id}/healthmonitor to configure "
                          "your health monitor."),
        "connectionThrottle": ("Please visit {account id}/loadbalancers/{load balancer id}/throttles to configure "
                               "connection throttling."),
        "accessList": ("Please visit {account id}/loadbalancers/{load balancer id}/accesslist to configure access "
                       "lists."),
        "connectionLogging": ("Please visit {account id}/loadbalancers/{load balancer id}/connecitonlogging to "
                              "configure connection logging."),
        "contentCaching": ("Please visit {account id}/loadbalancers/{load balancer id}/contentcaching to configure "
                           "content caching."),
        "sourceAddresses": "Load balancer source addresses field cannot be modified.",
    }

    def _put_load_balancer(self, lb: LoadBalancer, _mapping: str, raw: bytes) -> _Reply:
        fields = _wrapped(raw, "loadBalancer", self._LB_MODEL)
        name, algorithm = _opt_str(fields, "name"), _opt_str(fields, "algorithm")
        protocol = _opt_str(fields, "protocol")
        port, timeout = _opt_int(fields, "port"), _opt_int(fields, "timeout")
        half_closed, redirect = _opt_bool(fields, "halfClosed"), _opt_bool(fields, "httpsRedirect")
        errors = [message for key, message in self._LB_READ_ONLY.items() if key in fields]
        if protocol is not None and protocol not in _PROTOCOLS:
            errors.append("Load balancer protocol is invalid. Please specify a valid protocol.")
        if algorithm is not None and algorithm not in _ALGORITHMS:
            errors.append("Load balancer algorithm is invalid. Please specify a valid algorithm.")
        if port is not None and not 1 <= port <= 65535:
            errors.append("Load balancer port is invalid. Please specify a valid port.")
        if timeout is not None and not 30 <= timeout <= 120:
            errors.append("Load balancer timeout is invalid. Please specify a valid timeout value.")
        if name is not None and len(name) > 128:
            errors.append("Load Balancer name must be less than or equal to 128")
        if not set(fields) & self._LB_UPDATABLE:
            errors.append("The load balancer must have at least one of the following to update: name, algorithm, "
                          "protocol, port, timeout, halfClosed, or httpsRedirect.")
        if errors:
            raise _validation_fault(errors)
        # [atlas] LoadBalancerServiceImpl.prepareForUpdate, in its order.
        ssl = lb.ssl_termination
        redirect_on = redirect is True or (redirect is None and lb.https_redirect)
        only_https = ("HTTPS Redirect is only valid for load balancers using the HTTPS protocol, or for load "
                      "balancers with a 'Secure Only' SSL Termination.")
        if ssl is not None:
            if protocol is not None and protocol != lb.protocol:
                raise _fault(400, "Cannot update protocol on a load balancer with ssl termination.")
            if port is not None and port == ssl.secure_port:
                raise _fault(400, "Port currently assigned to SSL termination for this load balancer. Please try "
                                  "another port.")
            if redirect_on:
                if not ssl.secure_traffic_only:
                    raise _fault(400, only_https)
                if ssl.secure_port != 443:
                    raise _fault(400, "HTTPS Redirect can only be enabled for load balancers with SSL Termination "
                                      "using secure port 443.")
                if port is not None and port != 80:
                    raise _fault(400, "Cannot change port on load balancers with HTTPS Redirect enabled.")
        elif redirect_on:
            if (protocol or lb.protocol) != "HTTPS":
                raise _fault(400, only_https)
            if (port if port is not None else lb.port) != 443:
                raise _fault(400, "HTTPS Redirect can only be enabled for HTTPS load balancers using port 443.")
        self._claim(lb)
        lb.name = name if name is not None else lb.name
        lb.algorithm = algorithm or lb.algorithm
        lb.protocol = protocol or lb.protocol
        lb.port = port if port is not None else lb.port
        lb.timeout = timeout if timeout is not None else lb.timeout
        lb.half_closed = half_closed if half_closed is not None else lb.half_closed
        lb.https_redirect = redirect if redirect is not None else lb.https_redirect
        return _Reply(202)  # [docs] put-update-load-balancer-properties: 202, no body
