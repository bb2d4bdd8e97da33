# ftpmirror: see README.md.  `make` builds build/ftpmirror; `make test` runs
# the whole suite (unit tests in a plain and a sanitizer build, then the
# integration tests against real FTP servers on 127.0.0.1).

CC       ?= cc
PKGS     := libcurl sqlite3 yaml-0.1 libcrypto
WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wwrite-strings -Wcast-qual -Wundef \
            -Wconversion -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) -Iinclude -Ibuild \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS      = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
DATADIR  ?= $(PREFIX)/share/ftpmirror
DOCDIR   ?= $(PREFIX)/share/doc/ftpmirror
SYSTEMD_UNITS := ftpmirror.service ftpmirror@.service ftpmirror@.timer

SRCS     := $(filter-out src/main.c,$(wildcard src/*.c))
OBJS     := $(SRCS:src/%.c=build/obj/%.o) build/obj/schema.o
SAN_OBJS := $(SRCS:src/%.c=build/san/%.o) build/san/schema.o
UNITS    := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

.PHONY: all deps test unit unit-san integration demo clean install uninstall \
        fuzz fuzz-replay bench bench-large FORCE
all: build/ftpmirror

# Debian packages for building, testing and the demo; installed when missing.
deps:
	@sh tests/deps.sh

build/obj build/san build/unit build/unit-san:
	@mkdir -p $@

# The schema files become one C array so the binary can create and migrate
# its database without reading files at run time.  The list of files is
# kept too, rewritten only when it changes: a schema file removed or renamed
# must rebuild the array, which the files' times alone would miss.
SCHEMA   := $(sort $(wildcard schema/*.sql))
build/schema.list: FORCE | build/obj
	@echo '$(SCHEMA)' | cmp -s - $@ 2>/dev/null || echo '$(SCHEMA)' > $@
build/schema.c: $(SCHEMA) build/schema.list | build/obj
	@sh tests/embed-schema.sh $(SCHEMA) > $@.tmp && mv $@.tmp $@
FORCE:

build/obj/%.o: src/%.c $(wildcard include/*.h) | build/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
build/obj/schema.o: build/schema.c | build/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
build/san/%.o: src/%.c $(wildcard include/*.h) | build/san
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<
build/san/schema.o: build/schema.c | build/san
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# Everything but main.c goes into an archive, so each unit test links only
# the modules it uses.
build/libftpmirror.a: $(OBJS)
	$(AR) rcs $@ $^
build/libftpmirror-san.a: $(SAN_OBJS)
	$(AR) rcs $@ $^

build/ftpmirror: src/main.c build/libftpmirror.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)
build/ftpmirror-san: src/main.c build/libftpmirror-san.a
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LIBS)

build/unit/%: tests/unit/%.c build/libftpmirror.a | build/unit
	$(CC) $(ALL_CFLAGS) -Wno-conversion -o $@ $^ $(LIBS) -lcmocka
build/unit-san/%: tests/unit/%.c build/libftpmirror-san.a | build/unit-san
	$(CC) $(ALL_CFLAGS) -Wno-conversion $(SAN) -o $@ $^ $(LIBS) -lcmocka

unit: $(UNITS:%=build/unit/%)
	@sh tests/run-units.sh build/unit $(UNITS)
unit-san: $(UNITS:%=build/unit-san/%)
	@sh tests/run-units.sh build/unit-san $(UNITS)

# Integration tests drive the sanitizer build of the real binary.
integration: build/ftpmirror build/ftpmirror-san
	@/usr/bin/python3 tests/integration/run.py --binary build/ftpmirror-san

test: deps
	@$(MAKE) --no-print-directory unit unit-san fuzz-replay integration

# Fuzzing (clang's libFuzzer): `make fuzz FUZZ_TIME=60` fuzzes each target
# for that many seconds, starting from the committed corpus.  `make test`
# replays the corpus (and any crash reproducer saved there) in the
# sanitizer build.
FUZZ_TIME  ?= 30
FUZZ_FLAGS  = -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude \
              -fsanitize=fuzzer,address,undefined
FUZZERS    := listing job reply
fuzz_deps_listing := src/listing.c src/civil.c
fuzz_deps_reply   := src/reply.c
fuzz_deps_job     := src/job.c src/schedule.c src/civil.c src/path.c

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard src/*.c include/*.h)
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o $@ $< $(fuzz_deps_$*) -lyaml
build/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c build/libftpmirror-san.a
	@mkdir -p build/fuzz
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< tests/fuzz/replay.c build/libftpmirror-san.a $(LIBS)

fuzz: $(FUZZERS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZERS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=65536 \
		    -artifact_prefix=tests/fuzz/corpus/$$t/crash- \
		    build/fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done
fuzz-replay: $(FUZZERS:%=build/fuzz/replay_%)
	@for t in $(FUZZERS); do build/fuzz/replay_$$t tests/fuzz/corpus/$$t/* || exit 1; done

demo: deps build/ftpmirror
	@sh tests/demo.sh

# The benchmark of issue 4 (bench/README.md): installs what is missing,
# builds, runs, and updates bench/results.md.  BENCH_ARGS passes options to
# bench/run.py, e.g. make bench BENCH_ARGS="--runs 1 --cases a,b".  Not part
# of `test`: timings are proved side by side here, never asserted in tests.
BENCH_DEPS = sh bench/deps.sh $(if $(findstring --server,$(BENCH_ARGS)),--servers)
bench:
	@$(BENCH_DEPS)
	@$(MAKE) --no-print-directory build/ftpmirror
	@BENCH_MAKE_TARGET=bench /usr/bin/python3 bench/run.py $(BENCH_ARGS)
bench-large:
	@$(BENCH_DEPS)
	@$(MAKE) --no-print-directory build/ftpmirror
	@BENCH_MAKE_TARGET=bench-large /usr/bin/python3 bench/run.py --large $(BENCH_ARGS)

install: build/ftpmirror
	install -D -m 0755 build/ftpmirror $(DESTDIR)$(BINDIR)/ftpmirror
	install -D -m 0644 src/ftpmirror.1 $(DESTDIR)$(MANDIR)/man1/ftpmirror.1
	install -D -m 0644 src/ftpmirror.yaml.5 $(DESTDIR)$(MANDIR)/man5/ftpmirror.yaml.5
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/schema $(DESTDIR)$(DOCDIR)/examples
	for u in $(SYSTEMD_UNITS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 $(sort $(wildcard schema/*.sql)) $(DESTDIR)$(DATADIR)/schema/
	install -m 0644 jobs/example-gnu.yaml $(DESTDIR)$(DOCDIR)/examples/gnu-emacs.yaml
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ftpmirror
	rm -f $(DESTDIR)$(MANDIR)/man1/ftpmirror.1 $(DESTDIR)$(MANDIR)/man5/ftpmirror.yaml.5
	rm -f $(SYSTEMD_UNITS:%=$(DESTDIR)$(UNITDIR)/%)
	rm -f $(patsubst schema/%,$(DESTDIR)$(DATADIR)/schema/%,$(wildcard schema/*.sql))
	rm -f $(DESTDIR)$(DOCDIR)/examples/gnu-emacs.yaml
	rmdir $(DESTDIR)$(DATADIR)/schema $(DESTDIR)$(DATADIR) \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build
