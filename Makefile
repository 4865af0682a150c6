# aworld-resilience. `make demo` and `make test` are the two set-up commands; both install what
# they need (a project-local Python virtualenv with the AWS emulator) on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help venv fmt-check clippy lint test demo bench package clean

help:
	@echo "make demo     - the regional-disaster demo on the local AWS emulator"
	@echo "make test     - fmt check, clippy -D warnings, unit, integration and end-to-end tests"
	@echo "make lint     - fmt check and clippy only"
	@echo "make bench    - in-process benchmarks (criterion), writes BENCHMARKS.md"
	@echo "make package  - release build of every function"

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

lint: fmt-check clippy

# Unit tests (pure logic, no AWS), then everything that talks to the emulator or runs the
# compiled function binaries, under one private moto_server that is stopped afterwards.
test: venv lint
	$(CARGO) build --workspace --bins
	./scripts/with-moto.sh $(CARGO) test --workspace --no-fail-fast
	@echo "== demo (fast form, so it cannot rot)"
	./scripts/with-moto.sh $(CARGO) run --quiet -p resilience-tests --bin demo > target/demo.log || { cat target/demo.log; exit 1; }
	@tail -4 target/demo.log

demo: venv
	$(CARGO) build --workspace --bins
	./scripts/with-moto.sh $(CARGO) run --quiet -p resilience-tests --bin demo -- $(if $(DRY_RUN),--dry-run,)

# In-process benchmarks (criterion, release profile); writes BENCHMARKS.md. Not part of `make test`.
bench:
	$(CARGO) bench -p resilience-core --bench decisions -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench -p access-authorizer --bench warm_path -- --warm-up-time 1 --measurement-time 3
	python3 scripts/bench-report.py

package:
	$(CARGO) build --release --workspace --bins
	@for f in dns-failover capacity-scaler backup-verifier user-throttle access-authorizer; do ls -l target/release/$$f; done

clean:
	$(CARGO) clean
	rm -rf $(VENV)
