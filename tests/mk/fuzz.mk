# tests/mk/fuzz.mk - libFuzzer harnesses for every parser (tests/fuzz/fuzz_*.c).
#   make fuzz-replay  builds each harness with $(CC) and tests/fuzz/replay.c into
#                     $(BUILD)/fuzz-replay/ (no clang needed; part of `make unit`);
#                     tests/integration/85_fuzz_replay.sh runs them on the corpora.
#   make fuzz         installs clang-14 and libfuzzer-14-dev when root and missing,
#                     builds the harnesses into $(BUILD)/fuzz/ and fuzzes each for
#                     FUZZ_SECONDS (default 60); up to FUZZ_MAX_NEW (40) new inputs that
#                     add coverage join tests/fuzz/corpus/NAME, which stops growing at
#                     FUZZ_CORPUS_MAX (90) files.
#                     FUZZ_HARNESS="fuzz_query fuzz_path" picks some of them.

FUZZ_DIR        := tests/fuzz
FUZZ_ALL        := $(sort $(patsubst $(FUZZ_DIR)/%.c,%,$(wildcard $(FUZZ_DIR)/fuzz_*.c)))
FUZZ_HARNESS    ?= $(FUZZ_ALL)
FUZZ_SECONDS    ?= 60
FUZZ_MAX_LEN    ?= 4096
FUZZ_MAX_NEW    ?= 40
FUZZ_CORPUS_MAX ?= 90
FUZZ_CLANG      ?= clang-14
FUZZ_DEB        := clang-14 libfuzzer-14-dev

.PHONY: fuzz fuzz-deps fuzz-build fuzz-replay

# ---- replay with the ordinary compiler (and SAN=1's sanitizers)

FUZZ_REPLAY     := $(BUILD)/fuzz-replay
FUZZ_REPLAY_BIN := $(FUZZ_ALL:%=$(FUZZ_REPLAY)/%)
FUZZ_REPLAY_OBJ := $(FUZZ_ALL:%=$(FUZZ_REPLAY)/obj/%.o) $(FUZZ_REPLAY)/obj/replay.o

fuzz-replay: $(FUZZ_REPLAY_BIN)

# Objects reached only through pattern rules are intermediate to make: keep them.
.SECONDARY: $(FUZZ_REPLAY_OBJ)

unit: fuzz-replay

$(FUZZ_REPLAY)/obj/%.o: $(FUZZ_DIR)/%.c | $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -iquote client -iquote $(FUZZ_DIR) -c -o $@ $<

# Every harness links all of the daemon's objects (the client's JSON parser
# among them): the linker keeps what it needs, and one rule serves them all.
$(FUZZ_REPLAY)/fuzz_%: $(FUZZ_REPLAY)/obj/fuzz_%.o $(FUZZ_REPLAY)/obj/replay.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $< $(FUZZ_REPLAY)/obj/replay.o $(LIB_OBJ) $(LDLIBS)

# ---- libFuzzer with clang

FUZZ_OUT        := $(BUILD)/fuzz
FUZZ_SANITIZE   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The project's flags minus optimisation, fortification (it hides accesses from
# ASan) and any SAN=1 sanitizers; then coverage instrumentation for libFuzzer.
# The project is built with gcc: clang's extra warnings on its sources (such as
# -Wformat-nonliteral on log.c's vsnprintf) are shown, not fatal, here.
FUZZ_DROP       := -O% -g -D_FORTIFY_SOURCE=% -fsanitize=% -fno-sanitize-recover=% \
                   -fno-omit-frame-pointer
FUZZ_CFLAGS      = $(filter-out $(FUZZ_DROP),$(DAEMON_CFLAGS)) -O1 -g $(FUZZ_SANITIZE) \
                   -fsanitize=fuzzer-no-link -iquote client -iquote $(FUZZ_DIR)
FUZZ_DAEMON_OBJ := $(patsubst $(BUILD)/%,$(FUZZ_OUT)/obj/%,$(LIB_OBJ))
FUZZ_LIB_OBJ    := $(FUZZ_DAEMON_OBJ)
FUZZ_BIN        := $(FUZZ_ALL:%=$(FUZZ_OUT)/%)
FUZZ_PROJECT_CFLAGS = $(FUZZ_CFLAGS) -Wno-error

fuzz-build: $(FUZZ_BIN)

.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_ALL:%=$(FUZZ_OUT)/obj/fuzz/%.o)

$(FUZZ_OUT)/obj/daemon/%.o: daemon/%.c | $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_PROJECT_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_PROJECT_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/obj/client/%.o: client/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_PROJECT_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/obj/fuzz/%.o: $(FUZZ_DIR)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CLANG) -fsanitize=fuzzer $(FUZZ_SANITIZE) -o $@ $^ $(LDLIBS)

fuzz-deps:
	@missing=""; command -v $(FUZZ_CLANG) >/dev/null 2>&1 || missing="clang-14"; \
	dpkg-query -W -f='$${Status}' libfuzzer-14-dev 2>/dev/null | grep -q 'install ok installed' || \
	  missing="$$missing libfuzzer-14-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FUZZ_DEB) \
	      >/dev/null || exit 1; \
	  else \
	    echo "missing packages; run:"; echo "  sudo apt-get install -y $(FUZZ_DEB)"; exit 1; \
	  fi; \
	fi

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@bash $(FUZZ_DIR)/fuzz.sh $(FUZZ_OUT) $(FUZZ_SECONDS) $(FUZZ_MAX_LEN) $(FUZZ_MAX_NEW) \
	    $(FUZZ_CORPUS_MAX) \
	    $(FUZZ_HARNESS)

-include $(FUZZ_REPLAY_OBJ:.o=.d) $(FUZZ_ALL:%=$(FUZZ_OUT)/obj/fuzz/%.d) $(FUZZ_LIB_OBJ:.o=.d)
