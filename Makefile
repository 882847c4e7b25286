# sslterm: `make demo` and `make test` do all the set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := haproxy ca-certificates openssl

.PHONY: install system-packages tools demo test lint typecheck unit bench clean

# Debian packages the tests and the demo need; installed only when missing.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed; installing python3-venv"; apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# sslyze grades the generated TLS configuration; it pins an older cryptography, so it gets its own venv.
TOOLS := .venv-tools
$(TOOLS)/bin/sslyze:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q 'sslyze>=6.0'

tools: $(TOOLS)/bin/sslyze

# The demo uses its own data directory, so it never touches a real store.
demo: system-packages install
	SSLTERM_HOME=$(CURDIR)/.demo $(BIN)/sslterm quickstart $(DEMO_FLAGS)

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

unit: install system-packages tools
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc = 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test: install system-packages lint typecheck unit

bench: install system-packages
	$(BIN)/python bench/import_bench.py
	$(MAKE) --no-print-directory bench-haproxy

# HAProxy benchmarks (issue 3); BENCH_HAPROXY_FLAGS=--quick for a shorter run (scale: N = 100 and 1,000 only).
bench-haproxy: install system-packages
	$(BIN)/python bench/haproxy_rotation.py $(BENCH_HAPROXY_FLAGS)
	$(BIN)/python bench/haproxy_scale.py $(BENCH_HAPROXY_FLAGS)
	$(BIN)/python bench/haproxy_handshake.py $(BENCH_HAPROXY_FLAGS)

clean:
	rm -rf $(VENV) $(TOOLS) build *.egg-info bench/.cache
