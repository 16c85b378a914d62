# Infrastructure as code: template.yaml (SAM), samconfig.toml, config/.
#
#   make lint-iac      sam validate (+ cfn-lint), offline translation + cfn-lint, checkov, cfn-guard
#   make test-iac      lint-iac plus the tests under tests/iac (no AWS, no Docker, no build)
#   make build         every function cross-built for arm64 in one cargo-lambda invocation,
#                      then sam build (which finds them built), then check every
#                      function's arm64 bootstrap, zip it, print sizes
#   make deploy        the stack checked as CloudFormation would check it (tests/iac/account.py),
#                      then sam deploy --config-env $(ENV)   (ENV=dev|prod, REGION=...; needs AWS)
#   make smoke         checks the deployed stack's outputs (ENV=dev|prod; needs AWS)
#   make outputs       prints the deployed stack's outputs (ENV=dev|prod; needs AWS)
#   make operator      adds an operator: ENV=dev|prod EMAIL=alice@example.org GROUP=admins|viewers

IAC_REGION         ?= eu-west-1
CFN_GUARD_VERSION  := 3.2.1
TOOLS_DIR          := $(LOCAL)/tools
CFN_GUARD          := $(TOOLS_DIR)/bin/cfn-guard
IAC_OUT            := $(LOCAL)/iac
TRANSLATED         := $(IAC_OUT)/template.json
SAM_BUILD_DIR      := $(ROOT)/.aws-sam/build
FUNCTION_ZIPS      := $(ROOT)/.aws-sam/zip
ARM64_TARGET       := aarch64-unknown-linux-gnu
ENV                ?= dev
# Extra template parameters for `make deploy`, e.g. PARAMS="AlarmEmail=ops@example.org".
PARAMS             ?=
# The region of `make deploy`: samconfig.toml's, unless REGION names another.
REGION             ?=

# Offline checks need a region and must never find credentials.
IAC_OFFLINE := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	AWS_DEFAULT_REGION=$(IAC_REGION) AWS_REGION=$(IAC_REGION) SAM_CLI_TELEMETRY=0
# Reproducible builds: the same sources build the same bootstraps wherever
# the clone and cargo's home are. SAM names a function's code by a hash of
# its built files and publishes a new version of the migrate function
# (AutoPublishAlias) only when that hash changes; each new version runs the
# migrations (Custom::DatabaseMigrations). Both cargo-lambda runs below need
# the same flags, or the second builds again.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
REPRODUCIBLE   := RUSTFLAGS="--remap-path-prefix=$(ROOT)=/build --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo"

.PHONY: cfn-guard lint-iac test-iac build deploy smoke outputs operator arm64-target

cfn-guard: $(CFN_GUARD)
# A debug build without debug info: 43 s to build instead of 94 s (release),
# and a validation of the template takes 0.4 s instead of 0.14 s.
$(CFN_GUARD):
	CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --quiet --debug cfn-guard \
		--version $(CFN_GUARD_VERSION) --root $(TOOLS_DIR)

# The CloudFormation that SAM's transform makes of the template, offline.
$(TRANSLATED): template.yaml tests/iac/translate.py $(VENV)/.ready
	@mkdir -p $(IAC_OUT)
	$(IAC_OFFLINE) $(PY) tests/iac/translate.py template.yaml $@

lint-iac: venv $(CFN_GUARD) $(TRANSLATED)
	$(IAC_OFFLINE) sam validate --template template.yaml
	$(IAC_OFFLINE) sam validate --lint --template template.yaml
	$(IAC_OFFLINE) cfn-lint $(TRANSLATED)
	$(IAC_OFFLINE) checkov --skip-download --quiet --compact --framework cloudformation -f template.yaml
	$(IAC_OFFLINE) checkov --skip-download --quiet --compact --framework cloudformation -f $(TRANSLATED)
	$(CFN_GUARD) validate --rules config/guard --data $(TRANSLATED) --show-summary pass,fail

test-iac: lint-iac
	$(IAC_OFFLINE) CFN_GUARD=$(CFN_GUARD) $(PY) -m pytest -p no:cacheprovider -q tests/iac

arm64-target:
	@rustup target list --installed | grep -qx $(ARM64_TARGET) || rustup target add $(ARM64_TARGET)

# One cargo invocation builds every function's binary (their dependencies
# once, the release links in parallel); `sam build` then runs cargo-lambda
# once per function, as it always does, and finds each already built.
build: venv arm64-target rds-ca
	@binaries=$$($(PY) tests/iac/artifacts.py binaries template.yaml) || exit 1; \
	start=$$SECONDS; \
	$(REPRODUCIBLE) cargo lambda build --release --arm64 --locked $$binaries; \
	status=$$?; echo "cargo lambda build (all functions): $$(( SECONDS - start )) s"; exit $$status
	@start=$$SECONDS; \
	$(IAC_OFFLINE) $(REPRODUCIBLE) sam build --template template.yaml; \
	status=$$?; echo "sam build: $$(( SECONDS - start )) s"; exit $$status
	$(PY) tests/iac/artifacts.py check template.yaml $(SAM_BUILD_DIR) $(FUNCTION_ZIPS)

deploy: venv
	@case "$(ENV)" in dev|prod) ;; *) echo "ENV must be dev or prod, not '$(ENV)'" >&2; exit 2;; esac
	$(PY) tests/iac/account.py preflight --config-env $(ENV) $(if $(REGION),--region $(REGION)) \
		Stage=$(ENV) $(PARAMS)
	$(MAKE) build
	sam deploy --config-env $(ENV) $(if $(REGION),--region $(REGION)) \
		--parameter-overrides Stage=$(ENV) $(PARAMS)

smoke: venv
	@case "$(ENV)" in dev|prod) ;; *) echo "ENV must be dev or prod, not '$(ENV)'" >&2; exit 2;; esac
	$(PY) tests/iac/smoke.py --config-env $(ENV)

outputs: venv
	@$(PY) tests/iac/operators.py outputs --config-env "$(ENV)" $(if $(REGION),--region $(REGION))

operator: venv
	@$(PY) tests/iac/operators.py add --config-env "$(ENV)" --email "$(EMAIL)" --group "$(GROUP)" \
		$(if $(REGION),--region $(REGION))
