# The stack of template.yaml on one machine (local/local-runtime): the gateway on
# 127.0.0.1:3000, the S3 store on :3001, the face engine on :3002, Secrets
# Manager on :3003, each function its own binary as Lambda runs it (built
# beside registry-local), the database server of `make database`.
#
#   make dev                      run it until Ctrl-C
#   make dev PROFILE=fast         the optimised build: several times faster
#   make dev PARAMS="K=V ..."     with template parameters (EnableAlb=true adds
#                                 the load balancer on :3005)
#   make dev-token GROUP=admins   print a bearer token (GROUP=viewers too)
#   make invoke FUNCTION=HealthFunction EVENT=events/healthz.json
#                                 invoke one function, as `sam local invoke`
#   make invoke ARGS="HealthFunction -e events/healthz.json --env-vars env.json"
#                                 the same with `sam local invoke`'s flags
#                                 (-e/--event, --env-vars, --parameter-overrides, -t)
#   make sam-env-vars             for `sam local invoke` with Docker against `make dev`:
#                                 the --env-vars file, and the database's CA in each
#                                 built function (docs/local.md)
#   make import DIR=photos        enrol a folder of photos into the running
#                                 stack (ARGS="--report r.csv" and more)
#   make reconcile                run reconcile now and print its report
#   make rebuild-collection       index every person's photo again
#   make test-e2e                 every crate's tests (the end-to-end ones among
#                                 them), then the browser test
#   make bench-load               optimised runtime: indexing latency and throughput,
#                                 GET /api/faces under load on 100,000 people
#   make bench-faults             100 enrolments through a database outage
#   make bench-lambda             each function's cold starts and memory over the flow
#   make bench-drop               2,000 photos dropped into the bucket, indexed unattended
#   make bench-import             1,000 photos of a folder through `registry import`
#   make bench-reconcile          reconcile's full pass over a million people

GROUP ?= admins
PARAMS ?=
CARGO_TARGET ?= $(or $(CARGO_TARGET_DIR),$(ROOT)/target)
# debug (quick to build) or fast (quick to run: Cargo's `fast` profile).
PROFILE ?= debug
REGISTRY_LOCAL_BIN := $(CARGO_TARGET)/$(PROFILE)/registry-local
BROWSER_DIR := $(ROOT)/tests/browser
LOCAL_ASSETS_ENV := FACE_ENGINE_MODELS_DIR=$(MODELS_DIR) REGISTRY_TEST_IMAGES=$(TEST_IMAGES_DIR)

FUNCTION ?= HealthFunction
EVENT ?= events/healthz.json

.PHONY: dev dev-token import invoke sam-env-vars reconcile rebuild-collection registry-local bench-faults test-e2e test-browser tested-binaries node-deps browser-deps bench-load bench-lambda bench-drop bench-import bench-reconcile

registry-local: venv
	cargo build --locked --profile $(if $(filter debug,$(PROFILE)),dev,$(PROFILE)) --workspace --bin registry-local $(FUNCTION_BINS)

dev: setup database registry-local
	$(DB_ENV); exec $(REGISTRY_LOCAL_BIN) --state-dir $(LOCAL) serve --models-dir $(MODELS_DIR) $(if $(PARAMS),--parameter-overrides $(PARAMS))

dev-token:
	@cargo run --locked -q -p local-runtime --bin registry-local -- --state-dir $(LOCAL) token --group $(GROUP)

# `registry import` against `make dev`, as an admin (see `registry import --help`).
import:
	@test -n "$(DIR)" || { echo "give DIR=<a folder of photos>"; exit 2; }
	@REGISTRY_TOKEN="$$(cargo run --locked -q -p local-runtime --bin registry-local -- --state-dir $(LOCAL) token --group admins)" \
		cargo run --locked -q -p registry-cli -- --url http://127.0.0.1:3000 import "$(DIR)" $(ARGS)

invoke: setup database registry-local
	$(DB_ENV); $(REGISTRY_LOCAL_BIN) --state-dir $(LOCAL) invoke --models-dir $(MODELS_DIR) $(or $(ARGS),$(FUNCTION) --event $(EVENT))

# SAM mounts a function's build folder at /var/task: the CA goes there
# (artifacts.py refuses to zip it; `sam build` clears it).
SAM_ENV_VARS := $(LOCAL)/sam-env-vars.json
sam-env-vars: setup database registry-local
	$(DB_ENV); $(REGISTRY_LOCAL_BIN) --state-dir $(LOCAL) sam-env-vars > $(SAM_ENV_VARS)
	@for dir in $(SAM_BUILD_DIR)/*/; do [ -f "$$dir/bootstrap" ] && cp $(LOCAL)/mariadb/tls/ca.pem "$$dir/local-database-ca.pem"; done; true
	@echo "$(SAM_ENV_VARS)"

# What `make dev` runs every 10 minutes (the template's schedule), at once.
reconcile:
	@$(MAKE) --no-print-directory invoke FUNCTION=ReconcileFunction EVENT=events/scheduled.json

# Every person's photo indexed again (a lost collection, a new face model).
rebuild-collection:
	@$(MAKE) --no-print-directory invoke FUNCTION=ReconcileFunction EVENT=events/rebuild-collection.json

test-e2e: test-rust test-browser

# The binaries `cargo test --workspace` builds (for the end-to-end tests):
# building the runtime on its own would compile the workspace again, with the
# features of fewer packages.
tested-binaries: venv
	$(TEST_FUNCTIONS)
	cargo test --workspace --locked --no-run

$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json | node-deps
	cd $(BROWSER_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

node-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		echo "installing nodejs and npm"; \
		sudo_cmd=""; [ "$$(id -u)" -eq 0 ] || sudo_cmd=sudo; \
		$$sudo_cmd apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm; }

browser-deps: system-deps node-deps $(BROWSER_DIR)/node_modules/.package-lock.json

test-browser: setup database browser-deps tested-binaries
	$(DB_ENV); cd $(BROWSER_DIR) && $(LOCAL_ASSETS_ENV) REGISTRY_LOCAL_BIN=$(CARGO_TARGET)/debug/registry-local node --test

bench-load: setup database
	cargo build --locked -q --profile fast --workspace $(FUNCTION_BINS)
	$(DB_ENV); $(LOCAL_ASSETS_ENV) cargo run --locked -q --profile fast -p local-runtime --features bench --bin registry-local-load

# Cold starts and memory of each function over the end-to-end flow: the
# functions built as `make build` builds them for AWS (release), for this
# machine.
bench-lambda: setup database
	cargo build --locked -q --release --workspace --bin registry-local-lambda $(FUNCTION_BINS)
	$(DB_ENV); $(LOCAL_ASSETS_ENV) $(CARGO_TARGET)/release/registry-local-lambda

# 2,000 photos PUT straight into the bucket within a minute, then left to
# the indexer: how long until every one is indexed, and the dead letters.
bench-drop: setup database
	cargo build --locked -q --profile fast --workspace --bin registry-local-drop $(FUNCTION_BINS)
	$(DB_ENV); $(LOCAL_ASSETS_ENV) $(CARGO_TARGET)/fast/registry-local-drop

# 100 enrolments while the database goes away and comes back: what became of each.
bench-faults: setup database
	cargo build --locked -q --workspace $(FUNCTION_BINS)
	$(DB_ENV); $(LOCAL_ASSETS_ENV) cargo run --locked -q -p local-runtime --bin registry-local-faults

# 1,000 photos of a folder enrolled by the command line's import: photos per second.
bench-import: setup database
	cargo build --locked -q --profile fast --workspace --features local-runtime/bench --bin registry-local-import $(FUNCTION_BINS)
	$(DB_ENV); $(LOCAL_ASSETS_ENV) $(CARGO_TARGET)/fast/registry-local-import

# Reconcile's full pass over a million people, photos and faces: runs and time.
bench-reconcile: setup database
	cargo build --locked -q --profile fast --workspace --features local-runtime/bench --bin registry-local-reconcile $(FUNCTION_BINS)
	$(DB_ENV); $(LOCAL_ASSETS_ENV) $(CARGO_TARGET)/fast/registry-local-reconcile

bench: bench-load bench-faults bench-lambda bench-drop bench-import bench-reconcile
