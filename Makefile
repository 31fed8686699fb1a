# The two set-up commands of the README, plus the checks and the benchmark.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_TEST_PACKAGES := awscli s3cmd rclone curl postgresql litmus cadaver clamav-daemon

.PHONY: run test check lint typecheck bench clean debs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: create the venv, install, migrate and start the gateway on embedded defaults.
## run TLS=1: the same over HTTPS, with a self-signed pair for localhost made under $(TLS_DIR).
TLS_DIR := data/tls
TLS_FLAGS := $(if $(filter 1,$(TLS)),--tls-cert $(TLS_DIR)/cert.pem --tls-key $(TLS_DIR)/key.pem)
run: $(STAMP)
	$(if $(TLS_FLAGS),[ -e $(TLS_DIR)/cert.pem ] && [ -e $(TLS_DIR)/key.pem ] || $(BIN)/gateway tls self-signed --dir $(TLS_DIR))
	$(BIN)/gateway serve $(TLS_FLAGS)

## debs: install the Debian packages the tests drive, when missing.
debs:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

## test: install what the tests need and run the whole suite (lint and types included).
test: $(STAMP) debs check
	$(BIN)/python -m pytest

check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: S3 and WebDAV against SeaweedFS, moto, wsgidav and rclone started in the same run;
## then the scan stage (PUT answered to clean verdict, 100 MiB) against clamd alone.
bench: $(STAMP) debs
	$(BIN)/python -m bench
	$(BIN)/python -m bench.scan_pipeline

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
