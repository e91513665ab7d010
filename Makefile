# relais - plain GNU Makefile.
#   make            build/relais (optimised, with debug info)
#   make run        build and start relais serve on the embedded default
#   make test       ASan+UBSan build, cmocka unit tests, pytest integration tests
#   make fuzz       libFuzzer harnesses (clang), run briefly over their corpora
#   make test-faults  fault injection on every write path (minutes)
#   make bench-shaping  traffic shaping under load (bench/shaping_bench.py)
#   make bench-cluster  two nodes behind HAProxy + Redis beside one node
#                   (bench/cluster_bench.py)
#   make soak       SOAK_MIN minutes of mixed load, fails on growth (bench/soak.py)
#   make fuzz-long  every harness FUZZ_MIN minutes, found inputs merged into
#                   tests/fuzz/corpus (not part of make test)

PKGS      := libevent_core libevent_pthreads libevent_openssl libevent_extra openssl sqlite3 libunbound inih libpsl libxcrypt libseccomp jansson libcurl zlib hiredis
CC        ?= cc
PYTHON    := /usr/bin/python3
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes -Wno-format-truncation
BASEFLAGS := -std=c17 -D_GNU_SOURCE -pthread -Isrc $(WARN)
OPTFLAGS  ?= -O2 -g
SANFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

SRCS      := $(sort $(wildcard src/*/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
# the status page's files, embedded in every build as C arrays
# (scripts/embed.sh, src/http/ui_assets.h); GEN_OBJ joins the library
# objects of each build
UI_FILES  := src/http/ui.html src/http/ui.js src/http/ui.css src/http/ui.svg
GEN       := build/gen
GEN_OBJ   := gen/ui_assets.o
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

.PHONY: all deps deps-test run test unit integration fuzz fuzz-run fuzz-long clean security-check
.DEFAULT_GOAL := all

# Package check runs before anything that needs the libraries.
deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lm

$(GEN)/ui_assets.c: $(UI_FILES) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $(UI_FILES) >$@.tmp && mv $@.tmp $@

# --- optimised build -------------------------------------------------------
OBJ := build/obj
all: deps
	@$(MAKE) --no-print-directory build/relais

build/relais: $(patsubst src/%.c,$(OBJ)/%.o,$(SRCS) src/main.c) $(OBJ)/$(GEN_OBJ)
	$(CC) $(BASEFLAGS) $(OPTFLAGS) -o $@ $(sort $^) $(PKG_LIBS)

$(OBJ)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(OPTFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(OPTFLAGS) -MMD -MP -c -o $@ $<

# --- sanitizer build -------------------------------------------------------
SOBJ := build/san
build/san/relais: $(patsubst src/%.c,$(SOBJ)/%.o,$(SRCS) src/main.c) $(SOBJ)/$(GEN_OBJ)
	$(CC) $(BASEFLAGS) $(SANFLAGS) -o $@ $(sort $^) $(PKG_LIBS)

$(SOBJ)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(SOBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) -MMD -MP -c -o $@ $<

build/san/unit/%: tests/unit/%.c $(patsubst src/%.c,$(SOBJ)/%.o,$(LIB_SRCS)) $(SOBJ)/$(GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

UNIT_BINS := $(patsubst tests/unit/%.c,build/san/unit/%,$(UNIT_SRCS))

run: all
	./build/relais serve

# make test builds everything it runs first, TEST_JOBS jobs at a time (the
# cores of the machine), unless the calling make already runs jobs (make
# -jN test); then the unit tests (one after the other) beside the fuzz
# targets (as many at a time as there are jobs left), then the
# integration tests, where pytest lists the 25 slowest
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
TEST_J = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(TEST_JOBS))
# integration tests run in TEST_JOBS + 1 pytest-xdist workers (most of a
# test's time is spent waiting on the daemon, its peers and timers), one
# test file (one xdist group) per worker at a time; PYTEST_XDIST= runs
# them in one
PYTEST_WORKERS ?= $(shell echo $$(( $(TEST_JOBS) + 1 )))
PYTEST_XDIST ?= $(if $(filter 1,$(TEST_JOBS)),,-n $(PYTEST_WORKERS) --dist loadgroup)

test: deps-test
	@$(MAKE) --no-print-directory $(TEST_J) test-build
	@$(MAKE) --no-print-directory $(TEST_J) unit fuzz-run
	@$(MAKE) --no-print-directory integration PYTEST_ARGS="--durations=25 $(PYTEST_ARGS)"

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: build/san/relais build/san/unit/test_metrics build/san/unit/test_sts_service
	RELAIS_BIN=$(CURDIR)/build/san/relais $(PYTHON) -m pytest -q $(PYTEST_XDIST) tests/integration $(PYTEST_ARGS)

# --- fuzzing (clang libFuzzer) ---------------------------------------------
FOBJ := build/fuzz
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FOBJ)/bin/%,$(FUZZ_SRCS))
FUZZFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -Wno-unknown-warning-option

$(FOBJ)/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(BASEFLAGS) $(FUZZFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(FOBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	clang $(BASEFLAGS) $(FUZZFLAGS) -c -o $@ $<

$(FOBJ)/bin/%: tests/fuzz/%.c $(patsubst src/%.c,$(FOBJ)/%.o,$(LIB_SRCS)) $(FOBJ)/$(GEN_OBJ)
	@mkdir -p $(dir $@)
	clang $(BASEFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -Wno-unknown-warning-option $(PKG_CFLAGS) -o $@ $(filter %.c %.o,$^) $(FUZZ_LDFLAGS) $(PKG_LIBS)

# the session fuzzer: the spool and the password checks are faked; the
# calls to them from the real objects go to tests/fuzz/fake_spool.c
$(FOBJ)/bin/fuzz_session: tests/fuzz/fake_spool.c tests/fuzz/fake_spool.h
$(FOBJ)/bin/fuzz_session: FUZZ_LDFLAGS = -Wl,--wrap=qmgr_submit_msg \
	-Wl,--wrap=passwd_check_submit

# the library objects stay after a link (they would be intermediate files)
.SECONDARY: $(patsubst src/%.c,$(FOBJ)/%.o,$(LIB_SRCS)) $(FOBJ)/$(GEN_OBJ) \
	$(GEN)/ui_assets.c

# a target's dictionary, when it has one
FUZZ_DICT = $$(test -f tests/fuzz/$$n.dict && echo -dict=tests/fuzz/$$n.dict)

# the config fuzzer's dictionary follows the key table
tests/fuzz/fuzz_conf.dict: src/conf/conf.c scripts/fuzz-conf-dict.sh
	scripts/fuzz-conf-dict.sh src/conf/conf.c >$@.tmp && mv $@.tmp $@

# everything make test runs, built before any of it runs (after the
# definitions it names: a rule's prerequisites are expanded when read)
.PHONY: test-build
test-build: $(UNIT_BINS) build/san/relais $(FUZZ_BINS) tests/fuzz/fuzz_conf.dict

# runs per target in make test; the session fuzzer (a whole dialogue
# through the event loop per input) gets fewer
FUZZ_RUNS ?= 20000
FUZZ_RUNS_SESSION ?= 4000
# one rule per target (fuzz-run/NAME, never a file: it runs every time),
# so make -j runs several targets at once; each prints one line when done.
# The session fuzzer, the longest, starts first.
FUZZ_RUN_TARGETS := $(sort $(patsubst tests/fuzz/%.c,fuzz-run/%,$(FUZZ_SRCS)))
FUZZ_RUN_TARGETS := $(filter fuzz-run/fuzz_session,$(FUZZ_RUN_TARGETS)) \
	$(filter-out fuzz-run/fuzz_session,$(FUZZ_RUN_TARGETS))
fuzz-run: $(FUZZ_RUN_TARGETS)
fuzz-run/%: $(FOBJ)/bin/% tests/fuzz/fuzz_conf.dict
	@set -e; f=$<; n=$*; \
		runs=$(FUZZ_RUNS); [ $$n != fuzz_session ] || runs=$(FUZZ_RUNS_SESSION); \
		mkdir -p build/fuzz/corpus/$$n; log=build/fuzz/$$n.log; \
		if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $$f -runs=$$runs -max_len=4096 -timeout=60 $(FUZZ_DICT) -artifact_prefix=build/fuzz/$$n- \
		    build/fuzz/corpus/$$n tests/fuzz/corpus/$$n >$$log 2>&1; then \
			tail -40 $$log; echo "fuzz-run: $$n failed (log $$log)" >&2; exit 1; fi; \
		echo "== $$n $$(grep -E '^#[0-9]+[[:space:]]+DONE' $$log | tail -1)"

fuzz: $(FUZZ_BINS) tests/fuzz/fuzz_conf.dict
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus/$$n; \
		$$f -max_total_time=$${FUZZ_SECONDS:-60} $(FUZZ_DICT) build/fuzz/corpus/$$n tests/fuzz/corpus/$$n; done

# make fuzz-long FUZZ_MIN=10: each target FUZZ_MIN minutes; new inputs are
# merged (minimised, bounded) into tests/fuzz/corpus; a crash fails
FUZZ_MIN ?= 10
fuzz-long: $(FUZZ_BINS) tests/fuzz/fuzz_conf.dict
	@scripts/fuzz-long.sh $(FUZZ_MIN) $(FUZZ_BINS)

# TLS audit with Debian's testssl.sh (not part of make test: minutes)
security-check: all
	@scripts/security-check.sh

clean:
	rm -rf build

-include $(shell find build/obj build/san build/fuzz -name '*.d' -type f 2>/dev/null)

# --- fault injection (not part of make test: minutes) -----------------------
# make test-faults: every write-path op of the reference scenario failed in
# turn (EIO, ENOSPC) through RELAIS_FAULT, against the ASan binary; see
# tests/faults/run_faults.py. FAULT_ARGS="--max-per-op 1000" runs every
# call of every op (no stride), FAULT_ARGS="--ops fsync,rename" a subset.
.PHONY: test-faults
test-faults: deps-test build/san/relais
	$(PYTHON) tests/faults/run_faults.py --bin build/san/relais $(FAULT_ARGS)

# --- benchmarks (not part of make test) --------------------------------------
# make bench: relais and Postfix side by side with the shared harness.
BENCH_HARNESS ?= ../shared/bench
BENCH_PEERS   ?= build/bench-peers
BENCH_ARGS    ?= --scenarios relay,latency,idle -r 3
.PHONY: bench
bench: all
	@command -v smtp-source >/dev/null 2>&1 && [ -d $(BENCH_PEERS)/root ] || \
		$(BENCH_HARNESS)/setup-peers $(BENCH_PEERS)
	MTA_BENCH_PEERS=$(abspath $(BENCH_PEERS))/root RELAIS_BIN=$(CURDIR)/build/relais \
	$(BENCH_HARNESS)/mta-bench --mta postfix,custom --custom-name relais \
		--start '$(CURDIR)/bench/relais-start.sh' $(BENCH_ARGS)

# make bench-callgrind: instructions per received message (stable figure)
.PHONY: bench-callgrind
bench-callgrind: all
	@command -v valgrind >/dev/null 2>&1 || scripts/deps.sh valgrind
	$(PYTHON) bench/callgrind.py build/relais $${CG_MESSAGES:-200}

# make bench-api: the HTTP sending API beside SMTP on one relais, 4 KiB
# messages at 20 clients (API_ARGS="-n 5000 --conc 20 -r 3")
.PHONY: bench-api
bench-api: all
	@command -v smtp-source >/dev/null 2>&1 || $(BENCH_HARNESS)/setup-peers $(BENCH_PEERS)
	@command -v ab >/dev/null 2>&1 || scripts/deps.sh test
	RELAIS_BIN=$(CURDIR)/build/relais BENCH_HARNESS=$(abspath $(BENCH_HARNESS)) \
	$(PYTHON) bench/api_bench.py $(API_ARGS)

# make bench-cluster: two relais nodes behind HAProxy (send-proxy-v2,
# roundrobin) sharing a local Redis, beside one node alone, one node with
# Redis and one node behind HAProxy, in the same run; accept rate and CPU
# per message of each component (CLUSTER_ARGS="-n 5000 --conc 20 -r 3")
.PHONY: bench-cluster
bench-cluster: all
	@command -v smtp-source >/dev/null 2>&1 || $(BENCH_HARNESS)/setup-peers $(BENCH_PEERS)
	@{ command -v haproxy || [ -x /usr/sbin/haproxy ]; } >/dev/null 2>&1 && \
		{ command -v redis-server || [ -x /usr/bin/redis-server ]; } >/dev/null 2>&1 || \
		scripts/deps.sh test
	RELAIS_BIN=$(CURDIR)/build/relais BENCH_HARNESS=$(abspath $(BENCH_HARNESS)) \
	$(PYTHON) bench/cluster_bench.py $(CLUSTER_ARGS)

# make bench-shaping: 50,000 messages over 20 simulated sites on loopback,
# 3 of them throttling at 20/s; time against the best possible, limits
# held, nothing lost (SHAPING_ARGS="--messages 2000" for a quick run)
.PHONY: bench-shaping
bench-shaping: all
	$(PYTHON) bench/shaping_bench.py --relais build/relais $(SHAPING_ARGS)

# make bench-latency: end of DATA -> 250 latency under a 20-session relay
# load, relais and Postfix interleaved (LL_ARGS="-r 3 -m 1000 --conc 20")
.PHONY: bench-latency
bench-latency: all
	@command -v smtp-source >/dev/null 2>&1 || $(BENCH_HARNESS)/setup-peers $(BENCH_PEERS)
	RELAIS_BIN=$(CURDIR)/build/relais BENCH_HARNESS=$(abspath $(BENCH_HARNESS)) \
	$(PYTHON) bench/latency_load.py $(LL_ARGS)

# make crash-load: kill -9 under load, every acknowledged message delivered
# (CL_ARGS="--mode relay -c 100 -s 1000000 -m 500 -k 3")
.PHONY: crash-load
crash-load: all
	$(PYTHON) bench/crash_load.py --relais build/relais $(CL_ARGS)

# make queue-scale: 1,000,000 recipients deferred to an unreachable
# destination; times queueing, relais queue list, the scheduler's pass and
# a restart (QS_ARGS="--recipients 100000" for a quick run)
.PHONY: queue-scale
queue-scale: all
	$(PYTHON) bench/queue_scale.py --relais build/relais $(QS_ARGS)

# make soak: SOAK_MIN minutes (default 10) of mixed load - relay, local,
# STARTTLS + AUTH, failed AUTH, bounces, idle, slow and hung-up sessions;
# fails if RSS, open fds or the spool grow, or if an acknowledged message
# is lost. Samples in build/soak.csv (and build/soak.png with Debian's
# python3-matplotlib). SOAK_BIN=build/san/relais runs the ASan build;
# SOAK_ARGS="--rate 50" and the like go to bench/soak.py.
SOAK_MIN  ?= 10
SOAK_BIN  ?= build/relais
SOAK_ARGS ?=
.PHONY: soak
soak: all $(filter build/san/relais,$(SOAK_BIN))
	$(PYTHON) bench/soak.py --relais $(SOAK_BIN) --minutes $(SOAK_MIN) \
		--csv build/soak.csv --plot build/soak.png $(SOAK_ARGS)

# make bench-webhook: webhook drain rate (a backlog, then live mail) and
# idle cost, with and without [webhooks] (WH_ARGS="-n 2000 -c 10")
.PHONY: bench-webhook
bench-webhook: all
	$(PYTHON) bench/webhook_drain.py build/relais $(WH_ARGS)
	$(PYTHON) bench/webhook_drain.py build/relais --no-hook $(WH_ARGS)

# --- man pages, install, Debian package --------------------------------------
# make man        man/*.[158] (mdoc) checked with mandoc -T lint and groff -ww
#                 (no warning allowed; make test runs the check, in well
#                 under a second) and rendered into build/man/ as text
#                 and HTML
# make install    PREFIX (/usr/local), DESTDIR, SYSCONFDIR (/etc): the
#                 optimised build/relais as PREFIX/sbin/relais, the sendmail
#                 script beside it (not over another MTA's), man pages, docs,
#                 the systemd unit with these paths, and the example
#                 configuration in SYSCONFDIR/relais (never over a file
#                 that is there). INSTALL_BIN=FILE installs another binary.
# make uninstall  the same files; the configuration only where unchanged
# make deb        build/relais_VERSION_ARCH.deb with dpkg-buildpackage in a
#                 copy of the tree under build/deb, then lintian on it
.PHONY: man man-lint install uninstall deb test-deb
VERSION     := $(shell sed -n 's/^\#define RELAIS_VERSION[[:space:]]*"\(.*\)"/\1/p' src/core/version.h)
PREFIX      ?= /usr/local
SYSCONFDIR  ?= /etc
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/relais
# systemd's own directory for PREFIX=/usr, else PREFIX/lib/systemd/system
# (systemd reads /usr/local/lib/systemd/system too)
UNITDIR     ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system),$(PREFIX)/lib/systemd/system)
INSTALL_BIN ?= build/relais
MAN_SRCS    := man/relais-sendmail.1 man/relais.conf.5 man/relais.8
DOC_FILES   := README.md $(wildcard docs/*.md)
CONF_FILES  := etc/relais.conf etc/shaping.conf
# the paths an installed file names: the unit's and the sendmail script's
INSTALL_SED := -e 's|/usr/sbin/relais|$(SBINDIR)/relais|g' \
	-e 's|/etc/relais/|$(SYSCONFDIR)/relais/|g' \
	-e 's|/usr/share/doc/relais/|$(DOCDIR)/|g' \
	-e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'

man-lint:
	@scripts/deps.sh man
	mandoc -T lint -W warning $(MAN_SRCS)
	@! command -v groff >/dev/null || for f in $(MAN_SRCS); do \
		w=$$(groff -mandoc -ww -z -Tutf8 $$f 2>&1); \
		[ -z "$$w" ] || { echo "$$w"; echo "man-lint: groff warns on $$f"; exit 1; }; done

man: man-lint $(patsubst man/%,build/man/%.txt,$(MAN_SRCS)) $(patsubst man/%,build/man/%.html,$(MAN_SRCS))

build/man/%.txt: man/%
	@mkdir -p $(dir $@)
	mandoc -T ascii $< | sed 's/.\x08//g' >$@.tmp && mv $@.tmp $@

build/man/%.html: man/%
	@mkdir -p $(dir $@)
	mandoc -T html $< >$@.tmp && mv $@.tmp $@

test: man-lint

install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/relais
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(SBINDIR)/relais
	@t=$(DESTDIR)$(SBINDIR)/sendmail; \
	if [ -e $$t ] && ! grep -q 'relais-sendmail(1)' $$t; then \
		echo "install: $$t belongs to another MTA: left alone"; \
	else \
		echo "sed ... etc/sendmail.in >$$t"; \
		sed $(INSTALL_SED) etc/sendmail.in >$$t.tmp && chmod 0755 $$t.tmp && \
		mv $$t.tmp $$t && ln -sf relais-sendmail.1 $(DESTDIR)$(MANDIR)/man1/sendmail.1; \
	fi
	install -m 0644 man/relais-sendmail.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/relais.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/relais.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	sed $(INSTALL_SED) etc/relais.service >$(DESTDIR)$(UNITDIR)/relais.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/relais.service.tmp
	mv $(DESTDIR)$(UNITDIR)/relais.service.tmp $(DESTDIR)$(UNITDIR)/relais.service
	@for f in $(CONF_FILES); do t=$(DESTDIR)$(SYSCONFDIR)/relais/$$(basename $$f); \
		if [ -e $$t ]; then echo "install: $$t exists: kept"; \
		else echo "install -m 0644 $$f $$t"; install -m 0644 $$f $$t; fi; done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/relais $(DESTDIR)$(MANDIR)/man1/relais-sendmail.1 \
		$(DESTDIR)$(MANDIR)/man5/relais.conf.5 $(DESTDIR)$(MANDIR)/man8/relais.8 \
		$(DESTDIR)$(UNITDIR)/relais.service
	@if grep -qs 'relais-sendmail(1)' $(DESTDIR)$(SBINDIR)/sendmail; then \
		rm -f $(DESTDIR)$(SBINDIR)/sendmail; fi
	@if [ "$$(readlink $(DESTDIR)$(MANDIR)/man1/sendmail.1)" = relais-sendmail.1 ]; then \
		rm -f $(DESTDIR)$(MANDIR)/man1/sendmail.1; fi
	rm -rf $(DESTDIR)$(DOCDIR)
	@for f in $(CONF_FILES); do t=$(DESTDIR)$(SYSCONFDIR)/relais/$$(basename $$f); \
		if cmp -s $$f $$t; then rm -f $$t; \
		elif [ -e $$t ]; then echo "uninstall: $$t was changed: kept"; fi; done
	@rmdir $(DESTDIR)$(SYSCONFDIR)/relais 2>/dev/null || true

DEB_TREE := build/deb/relais-$(VERSION)
deb:
	@scripts/deps.sh deb
	rm -rf build/deb && mkdir -p $(DEB_TREE)
	tar -c --exclude=./build --exclude=./.git --exclude=./relais-data \
		--exclude=./relais.conf --exclude=__pycache__ . | tar -x -C $(DEB_TREE)
	cd $(DEB_TREE) && dpkg-buildpackage -us -uc -b -j2
	cp build/deb/relais_$(VERSION)_*.deb build/
	lintian --fail-on error build/deb/relais_$(VERSION)_*.changes

# make test-deb: make deb, then tests/integration/test_package.py with the
# .deb checks made mandatory (make test runs them only on a current .deb)
test-deb: deb
	RELAIS_DEB=$(CURDIR)/$$(ls build/relais_$(VERSION)_*.deb) \
	RELAIS_BIN=$(CURDIR)/$(DEB_TREE)/build/relais \
	$(PYTHON) -m pytest -q tests/integration/test_package.py $(PYTEST_ARGS)
