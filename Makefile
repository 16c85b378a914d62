# Face Registry. `make dev` runs the registry locally; `make test` runs every check.
# Each area keeps its targets in mk/*.mk; this file ties them together.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

ROOT  := $(abspath .)
LOCAL := $(ROOT)/.local
VENV  := $(ROOT)/.venv
PY    := $(VENV)/bin/python
export CARGO_TERM_COLOR ?= never
export PATH := $(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)

# Database URL and its TLS certificate's CA: what `scripts/database.sh up`
# found or started.
DB_ENV = set -a; . $(LOCAL)/database.env; set +a

.PHONY: help setup system-deps venv database test lint fmt clippy architecture test-build test-rust bench

help:
	@echo "make dev        run the registry locally on http://127.0.0.1:3000"
	@echo "make test       install what is missing, then run every check and test"
	@echo "make bench      print the benchmarks' figures"
	@echo "make build      build the Lambda functions for arm64 (sam build)"
	@echo "make invoke     invoke one function with a sample event (FUNCTION=HealthFunction EVENT=events/healthz.json,"
	@echo "                or sam local invoke's flags: ARGS=\"HealthFunction -e events/healthz.json --env-vars env.json\")"
	@echo "make reconcile  compare the table, the collection and the bucket now, repair, print the report"
	@echo "make rebuild-collection  index every person's photo again (a lost collection, a new face model)"
	@echo "make deploy     deploy with SAM (ENV=dev|prod)"
	@echo "make outputs    the deployed stack's outputs (ENV=dev|prod)"
	@echo "make operator   add an operator to the deployed stack (ENV=dev|prod EMAIL=... GROUP=admins|viewers)"

system-deps:
	@scripts/install-system-deps.sh

$(VENV)/.ready: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.ready

setup: system-deps venv models test-images rds-ca

database: system-deps
	@scripts/database.sh up

fmt:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

# The invariants ARCHITECTURE.md states (tests/architecture).
architecture: venv
	$(PY) -m pytest -p no:cacheprovider -q tests/architecture

lint: fmt architecture clippy

clippy: rds-ca

# Every crate's tests, the local runtime's end-to-end ones among them: one
# build of the workspace serves them all, and the browser test's binary.
# test-build builds them; test-rust runs them (building what is missing).
# Both in the same environment, so that the second builds nothing again.
# The end-to-end tests run the functions' own binaries (the ones the
# template's BuildProperties name), built for this machine beside them, in
# the same build as the tests (--tests): its features are the tests', so
# the SDKs and sqlx are compiled once for both.
TEST_RUST = $(DB_ENV); $(LOCAL_ASSETS_ENV) cargo test --workspace --locked
FUNCTION_BINS = $(shell $(PY) tests/iac/artifacts.py binaries template.yaml)
TEST_FUNCTIONS = $(DB_ENV); $(LOCAL_ASSETS_ENV) cargo build --workspace --locked --tests $(FUNCTION_BINS)
test-build: setup database
	$(TEST_FUNCTIONS)
	$(TEST_RUST) --no-run

test-rust: setup database
	$(TEST_FUNCTIONS)
	$(TEST_RUST)

# Every check, stage by stage, each stage's time printed as it ends and all
# of them at the end. test-iac and deny (licences and duplicate crates) run
# beside test-rust: the tests, once built, leave a core idle while the stack
# works (about half the cores' time).
TEST_STAGES := setup database lint test-build test-rust+test-iac+deny test-browser build

test:
	@scripts/test-stages.sh $(TEST_STAGES)

bench: setup database
	$(DB_ENV); cargo run --locked --profile fast -p registry-bench

include $(wildcard mk/*.mk)
