# tests/mk/crash.mk - the long crash loop.
#   make test-long        builds everything, then runs tests/integration/72_crash_loop.sh with
#                         CRASH_LOOPS=1000 (kill -9 at a random moment during concurrent uploads and
#                         deletes, restart, check the invariants; about a second a round).
#   make SAN=1 test-long  the same against the ASan + UBSan build.
# CRASH_LOOPS and CRASH_SEED override the round count and the seed of sizes and kill delays.
# `test-long` only gains a prerequisite here, so other fragments can add theirs the same way.

CRASH_LOOPS_LONG ?= 1000

.PHONY: test-long test-crash-long

test-long: test-crash-long

test-crash-long: deps
	@$(MAKE) --no-print-directory all
	@CKPTD=$(CURDIR)/$(BUILD)/ckptd BUILD_DIR=$(CURDIR)/$(BUILD) \
	    CRASH_LOOPS=$${CRASH_LOOPS:-$(CRASH_LOOPS_LONG)} bash tests/integration/72_crash_loop.sh
