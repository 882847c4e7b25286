# sslterm: `make demo` and `make test` do all the set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the demo needs (and the tests too)
APT_PACKAGES := haproxy ca-certificates openssl
# What only the tests need. postgresql: the shared-store tests start a throw-away cluster of their own
# (tests/pgcluster.py); chromium: the browser tests (tests/ui) drive /usr/bin/chromium with Playwright (no
# browser is downloaded)
TEST_APT_PACKAGES := postgresql strace chromium

.PHONY: install system-packages test-packages tools demo test lint typecheck unit bench clean tour-files

# Debian packages, installed only when missing.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system-packages:
	$(call apt_install,$(APT_PACKAGES))

test-packages:
	$(call apt_install,$(APT_PACKAGES) $(TEST_APT_PACKAGES))

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed; installing python3-venv"; apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

# The README's tour calls plain `sslterm`: as root, link it onto PATH when /usr/local/bin/sslterm is free or
# already this checkout's link; otherwise say how to get it (an operator's own sslterm is never replaced).
LINK := /usr/local/bin/sslterm

install: $(STAMP)
	@target="$(CURDIR)/$(BIN)/sslterm"; \
	if [ "$$(readlink -- $(LINK) 2>/dev/null)" = "$$target" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && [ ! -e $(LINK) ] && [ ! -L $(LINK) ]; then \
	  ln -s -- "$$target" $(LINK) && echo "sslterm is on PATH: $(LINK) -> $$target"; \
	else \
	  echo "sslterm is $(BIN)/sslterm; to call it as plain sslterm in this shell: . $(BIN)/activate"; \
	fi

# sslyze grades the generated TLS configuration; it pins an older cryptography, so it gets its own venv.
TOOLS := .venv-tools
$(TOOLS)/bin/sslyze:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q 'sslyze>=6.0'

tools: $(TOOLS)/bin/sslyze

# The demo uses its own data directory, so it never touches a real store.
demo: system-packages install
	SSLTERM_HOME=$(CURDIR)/.demo $(BIN)/sslterm quickstart $(DEMO_FLAGS)

# Example files for the README's tour (a throw-away CA; nothing here is for production), made once.
TOUR := build/tour
define TOUR_PY
import sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12
from sslterm.demo.ca import DemoCA

out, secret = Path(sys.argv[1]), b"tour passphrase"
ca = DemoCA("sslterm tour")
files = {"root.pem": ca.root.public_bytes(Encoding.PEM), "intermediates.pem": ca.intermediate.public_bytes(Encoding.PEM),
         "pass.txt": secret + b"\n"}
for name, hosts in (("shop", ("shop.example.test", "www.shop.example.test")), ("api", ("api.example.test",))):
    issued = ca.issue(*hosts)
    files |= {f"{name}.crt": issued.cert_pem(), f"{name}.key": issued.key_pem()}
new, legacy, www = ca.issue("shop.example.test", "www.shop.example.test"), ca.issue("legacy.example.test"), ca.issue("www.example.test")
bundle = ca.issue("bundle.example.test")
files |= {"new.crt": new.cert_pem() + new.chain_pem(), "new.key": new.key_pem(),
          "legacy.pem": legacy.cert_pem() + legacy.chain_pem(), "legacy.key": legacy.key_pem(secret),
          "site.p12": pkcs12.serialize_key_and_certificates(b"site", bundle.key, bundle.cert, [ca.intermediate],
                                                            BestAvailableEncryption(secret)),
          "live/www/cert.pem": www.cert_pem(), "live/www/chain.pem": www.chain_pem(),
          "live/www/fullchain.pem": www.cert_pem() + www.chain_pem(), "live/www/privkey.pem": www.key_pem()}
for name, data in files.items():
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(data)
    (out / name).chmod(0o600 if name.endswith((".key", "privkey.pem", ".p12", ".txt")) else 0o644)
endef
export TOUR_PY

$(TOUR)/shop.crt: | $(STAMP)
	$(BIN)/python -c "$$TOUR_PY" $(TOUR)

tour-files: $(TOUR)/shop.crt
	@echo "the tour's files are in $(TOUR)/: cd $(TOUR)"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install test-packages tools
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc = 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test: install test-packages lint typecheck unit

# AWS (issue 8): BENCH_AWS_FLAGS='--lbs 10' for a shorter run, '--latency 50' to add a round trip per call.
# Rackspace (issue 9): BENCH_RACKSPACE_FLAGS=--quick (changes PENDING_UPDATE 0.5 s instead of 2 s), '--pending 10'.
# API and web UI (issue 10): BENCH_API_FLAGS=--quick for N = 100 and 1,000 only (not 10,000), '--json FILE'.
bench: install test-packages
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/journal_bench.py
	$(BIN)/python bench/rackspace_bench.py $(BENCH_RACKSPACE_FLAGS)
	$(BIN)/python bench/controllers_bench.py
	$(BIN)/python bench/aws_bench.py $(BENCH_AWS_FLAGS)
	$(BIN)/python bench/api_bench.py $(BENCH_API_FLAGS)
	$(MAKE) --no-print-directory bench-haproxy

# HAProxy benchmarks (issue 3); BENCH_HAPROXY_FLAGS=--quick for a shorter run (scale: N = 100 and 1,000 only).
bench-haproxy: install system-packages
	$(BIN)/python bench/haproxy_rotation.py $(BENCH_HAPROXY_FLAGS)
	$(BIN)/python bench/haproxy_scale.py $(BENCH_HAPROXY_FLAGS)
	$(BIN)/python bench/haproxy_handshake.py $(BENCH_HAPROXY_FLAGS)

clean:
	@[ "$$(readlink -- $(LINK) 2>/dev/null)" != "$(CURDIR)/$(BIN)/sslterm" ] || rm -f -- $(LINK)
	rm -rf $(VENV) $(TOOLS) build *.egg-info bench/.cache
