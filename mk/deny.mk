# The crates the registry is built from: their licences, and no crate in two
# versions (`deny.toml`), with cargo-deny.
#
#   make deny    licences and duplicates; make test runs it
#   make audit   RustSec's advisories: fetches the advisory database, so it
#                needs the internet (make test runs without it)

CARGO_DENY_VERSION := 0.20.2
CARGO_DENY         := $(LOCAL)/tools/bin/cargo-deny

.PHONY: deny audit

# A debug build without debug info, as cfn-guard's: 46 s to build here.
$(CARGO_DENY):
	CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --quiet --debug cargo-deny \
		--version $(CARGO_DENY_VERSION) --root $(LOCAL)/tools

deny: $(CARGO_DENY)
	$(CARGO_DENY) --locked check licenses bans

audit: $(CARGO_DENY)
	$(CARGO_DENY) --locked check advisories
