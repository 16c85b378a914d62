# Infrastructure as code: template.yaml (SAM), samconfig.toml, config/.
# `make test-iac` proves the template offline (no AWS, no Docker, no build);
# `make test-build` cross-builds the functions for arm64 and checks them.

AWS_REGION_OFFLINE ?= eu-west-1
CFN_GUARD_VERSION  := 3.2.1
TOOLS_DIR          := $(LOCAL)/tools
CFN_GUARD          := $(TOOLS_DIR)/bin/cfn-guard
IAC_OUT            := $(LOCAL)/iac
SAM_BUILD_DIR      := $(ROOT)/.aws-sam/build
ENV                ?= dev

# `sam validate` needs a region, never credentials; keep any real profile out.
IAC_ENV := AWS_DEFAULT_REGION=$(AWS_REGION_OFFLINE) AWS_REGION=$(AWS_REGION_OFFLINE) \
	SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_SESSION_TOKEN= AWS_PROFILE=

.PHONY: cfn-guard lint-iac test-iac test-build build deploy smoke

cfn-guard: $(CFN_GUARD)
$(CFN_GUARD):
	cargo install --locked --quiet cfn-guard --version $(CFN_GUARD_VERSION) --root $(TOOLS_DIR)
