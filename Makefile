# ckpt - checkpoint store. `make` builds build/ckptd; `make test` runs the
# whole suite; `make run` starts a local daemon. See README.md.

PKGS       := libmicrohttpd sqlite3 libcrypto
CLIENT_PKGS := libcurl libcrypto
# Debian 12 packages the build and the test suite need.
DEB_DEPS   := gcc make pkg-config libmicrohttpd-dev libsqlite3-dev libssl-dev \
              libcurl4-openssl-dev curl jq openssl xxd python3 python3-pip python3-wheel \
              man-db groff-base binutils nginx-light
# Wanted by the test suite, not required: without them the torch tests say SKIPPED, the
# slow-client and soak tests use their Python stand-ins, and 130_deploy skips
# `systemd-analyze verify`; without strace the syscall tests say SKIPPED.
OPT_DEPS   := python3-torch wrk slowhttptest systemd strace
VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
# systemd searches /usr/lib/systemd/system and /usr/local/lib/systemd/system (and /lib on
# Debian). make install never writes to /etc: the example config goes to DOCDIR (see ckptd.8).
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/ckpt

ifeq ($(SAN),1)
BUILD      ?= build-san
SANFLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT        := -O1 -g
else
BUILD      ?= build
SANFLAGS   :=
OPT        := -O2 -g
endif

CC         ?= gcc
WARN       := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wvla -Wimplicit-fallthrough
HARDEN     := -fstack-protector-strong -D_FORTIFY_SOURCE=2
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) -MMD -MP $(CFLAGS)
DAEMON_CFLAGS = $(BASE_CFLAGS) -DCKPTD_VERSION='"$(VERSION)"' -iquote daemon -iquote $(BUILD)/gen \
              -iquote client \
              $(PKG_CFLAGS)
LDFLAGS    += $(SANFLAGS)
LDLIBS     += $(PKG_LIBS) -lpthread -lm
CLIENT_CFLAGS = $(BASE_CFLAGS) -iquote client -DCKPT_BUILDING -fPIC -fvisibility=hidden \
              $(shell pkg-config --cflags $(CLIENT_PKGS) 2>/dev/null)
CLIENT_LIBS = $(shell pkg-config --libs $(CLIENT_PKGS) 2>/dev/null) -lpthread -lm

DAEMON_SRC := $(wildcard daemon/*.c)
# The daemon shares one source with libckpt: its strict JSON parser.
DAEMON_OBJ := $(DAEMON_SRC:daemon/%.c=$(BUILD)/daemon/%.o) $(BUILD)/gen/migrations.o \
              $(BUILD)/client/jparse.o
LIB_OBJ    := $(filter-out $(BUILD)/daemon/main.o,$(DAEMON_OBJ))
MIGRATIONS := $(sort $(wildcard sql/[0-9]*.sql))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIB_SRC    := $(filter-out client/cli.c,$(wildcard client/*.c))
LIBCKPT_OBJ := $(LIB_SRC:client/%.c=$(BUILD)/client/%.o)
SONAME     := libckpt.so.$(SOVERSION)
CLIENT_TEST_SRC := $(wildcard tests/client/*.c)
CLIENT_TEST_BIN := $(CLIENT_TEST_SRC:tests/client/%.c=$(BUILD)/tests/client_%)
CLIENT_OUT := $(BUILD)/libckpt.a $(BUILD)/libckpt.so $(BUILD)/ckpt $(BUILD)/ckpt.pc

.PHONY: all deps opt-deps run test unit integration clean check-format format lint valgrind install \
        install-python

all: $(BUILD)/ckptd $(CLIENT_OUT) $(BUILD)/ckptd-fp

$(BUILD)/ckptd: $(DAEMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The test build of the daemon: the same sources with failpoints compiled
# in (daemon/failpoint.h), used by the crash and fault tests only.
FP_OBJ     := $(DAEMON_SRC:daemon/%.c=$(BUILD)/fp/%.o) $(BUILD)/gen/migrations.o \
              $(BUILD)/client/jparse.o

$(BUILD)/ckptd-fp: $(FP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fp/%.o: daemon/%.c | $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -DCKPTD_FAILPOINTS -c -o $@ $<

$(BUILD)/daemon/%.o: daemon/%.c | $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -c -o $@ $<

$(BUILD)/gen/migrations.c: $(MIGRATIONS) sql/embed.sh
	@mkdir -p $(dir $@)
	sh sql/embed.sh $@ $(MIGRATIONS)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(DAEMON_CFLAGS) -c -o $@ $<

$(BUILD)/client/%.o: client/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -c -o $@ $<

$(BUILD)/libckpt.a: $(LIBCKPT_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/libckpt.so.$(VERSION): $(LIBCKPT_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(CLIENT_LIBS)

$(BUILD)/libckpt.so: $(BUILD)/libckpt.so.$(VERSION)
	ln -sf libckpt.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libckpt.so.$(VERSION) $@

$(BUILD)/ckpt: $(BUILD)/client/cli.o $(BUILD)/libckpt.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

$(BUILD)/ckpt.pc: client/ckpt.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< >$@

# Client tests link the static library, as a user's program would.
$(BUILD)/tests/client_%: tests/client/%.c $(BUILD)/libckpt.a client/ckpt.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Iclient $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libckpt.a $(CLIENT_LIBS)

# The Python package with libckpt.so beside it, installed by pip from the
# local tree (no index, no dependencies). PYTHON and PIP_FLAGS choose where:
#   make install-python PYTHON=/usr/bin/python3 PIP_FLAGS=--user
PYTHON     ?= /usr/bin/python3
PIP_FLAGS  ?=
install-python: $(BUILD)/libckpt.so
	rm -rf $(BUILD)/python
	mkdir -p $(BUILD)/python
	cp -r client/python/ckpt client/python/pyproject.toml client/python/README.md $(BUILD)/python/
	rm -rf $(BUILD)/python/ckpt/__pycache__
	cp $(BUILD)/libckpt.so.$(VERSION) $(BUILD)/python/ckpt/libckpt.so.0
	$(PYTHON) -m pip install --no-deps --no-build-isolation --no-index --disable-pip-version-check \
	    $(PIP_FLAGS) $(BUILD)/python

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1
	install -m 644 client/ckpt.h $(DESTDIR)$(INCLUDEDIR)/ckpt.h
	install -m 644 $(BUILD)/libckpt.a $(DESTDIR)$(LIBDIR)/libckpt.a
	install -m 755 $(BUILD)/libckpt.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libckpt.so.$(VERSION)
	ln -sf libckpt.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libckpt.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libckpt.so
	# ckpt.pc names the install PREFIX, which need not be the one of `make`
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' client/ckpt.pc.in \
	    >$(DESTDIR)$(LIBDIR)/pkgconfig/ckpt.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/ckpt.pc
	install -m 755 $(BUILD)/ckpt $(DESTDIR)$(BINDIR)/ckpt
	install -m 755 $(BUILD)/ckptd $(DESTDIR)$(BINDIR)/ckptd
	install -m 644 client/ckpt.1 $(DESTDIR)$(MANDIR)/man1/ckpt.1
	# the daemon's man page, systemd unit (running the ckptd installed here) and docs
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMD_UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 644 daemon/ckptd.8 $(DESTDIR)$(MANDIR)/man8/ckptd.8
	sed -e 's|^ExecStart=/usr/local/bin/ckptd |ExecStart=$(BINDIR)/ckptd |' deploy/ckptd.service \
	    >$(DESTDIR)$(SYSTEMD_UNITDIR)/ckptd.service
	chmod 644 $(DESTDIR)$(SYSTEMD_UNITDIR)/ckptd.service
	install -m 644 deploy/backup.md $(DESTDIR)$(DOCDIR)/backup.md
	if [ -f deploy/ckptd.conf.example ]; then \
	    install -m 644 deploy/ckptd.conf.example $(DESTDIR)$(DOCDIR)/ckptd.conf.example; fi

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJ) tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(DAEMON_CFLAGS) -iquote tests/unit $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# Install missing build and test dependencies from Debian when root;
# otherwise say exactly what to run.
deps:
	@missing=""; for p in $(DEB_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing packages; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/ckptd --listen 127.0.0.1:8420 --data ./data

unit: $(UNIT_BIN) $(CLIENT_TEST_BIN) $(BUILD)/tests/example_push_pull

# The README's example program, built exactly as a user would.
$(BUILD)/tests/example_push_pull: client/examples/push_pull.c $(BUILD)/libckpt.a client/ckpt.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Iclient $(LDFLAGS) -o $@ $< $(BUILD)/libckpt.a $(CLIENT_LIBS)

# The client's JSON parser is private to libckpt: its test links the object.
$(BUILD)/tests/test_jparse: tests/unit/test_jparse.c $(BUILD)/client/jparse.o tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -iquote client -iquote tests/unit $(LDFLAGS) -o $@ $< \
	    $(BUILD)/client/jparse.o $(LDLIBS)

# Optional test dependencies: installed when possible, never fatal.
opt-deps:
	@missing=""; for p in $(OPT_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "installing (optional):$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	    echo "optional packages not installed:$$missing (their tests will say SKIPPED)"; \
	fi

test: deps opt-deps
	@$(MAKE) --no-print-directory all unit
	@bash tests/run.sh $(BUILD)

valgrind: deps
	@$(MAKE) --no-print-directory all unit
	@CKPTD_WRAPPER="valgrind --quiet --leak-check=full --error-exitcode=99" bash tests/run.sh $(BUILD)

FORMAT_SRC := $(wildcard daemon/*.c daemon/*.h tests/unit/*.c tests/unit/*.h)

format:
	clang-format -i $(FORMAT_SRC)

check-format:
	clang-format --dry-run --Werror $(FORMAT_SRC)

lint: $(BUILD)/gen/migrations.c
	cppcheck --quiet --error-exitcode=1 --inline-suppr --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem -Idaemon -I$(BUILD)/gen daemon
	clang-tidy --quiet $(DAEMON_SRC) -- -std=c11 -D_GNU_SOURCE -iquote daemon -iquote $(BUILD)/gen \
	  -iquote client $(PKG_CFLAGS)

clean:
	rm -rf build build-san

-include $(DAEMON_OBJ:.o=.d) $(FP_OBJ:.o=.d) $(UNIT_BIN:=.d) $(LIBCKPT_OBJ:.o=.d) $(BUILD)/client/cli.d

# Test-only targets (fuzzing, soak, long crash loops) live beside their tests.
include $(sort $(wildcard tests/mk/*.mk))
