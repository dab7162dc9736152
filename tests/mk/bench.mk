# make bench: ckptd next to nginx and the machine's limits (tests/bench/);
# not part of `make test`. Under 10 minutes; prints a table and saves it as
# tests/bench/results/YYYY-MM-DD-<commit>.md.

# Benchmark-only packages: nginx-light (the peer, with its WebDAV module),
# wrk (HTTP load), sqlite3 (the CLI that writes the index fixtures).
BENCH_DEPS := nginx-light wrk sqlite3

.PHONY: bench bench-deps

bench-deps:
	@missing=""; for p in $(BENCH_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing (bench):$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing packages; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

bench: deps bench-deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/run.sh $(BUILD)
