# soak.mk - `make soak`: the soak test (tests/integration/68_soak.sh) alone, for SOAK_SECONDS
# (default 600 here; `make test` runs it for 180), against $(BUILD)/ckptd. With SAN=1 it runs
# against the sanitizer build, which the script cuts to 30 s with a 1 GiB RSS bound.
#   make soak                     # 10 minutes
#   make soak SOAK_SECONDS=3600   # an hour

SOAK_SECONDS ?= 600

.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory all
	@SOAK_SECONDS=$(SOAK_SECONDS) BUILD_DIR=$(CURDIR)/$(BUILD) CKPTD=$(CURDIR)/$(BUILD)/ckptd \
	    bash tests/integration/68_soak.sh
