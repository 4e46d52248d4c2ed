# leakguard: end leaked sessions and connections, per application.
#
#   make                 build (PGXS)
#   make install         install into the PostgreSQL found by pg_config
#   make test            install missing packages (as root), build with
#                        -Werror, install, run unit, pg_regress and TAP tests
#                        against Debian's PostgreSQL 15, or against another
#                        installation: make test PG_CONFIG=/path/to/pg_config
#   make test-all        make test against PostgreSQL 15, 17 and 18 (17 and
#                        18 built from Debian's source tarballs by
#                        test/pg-build.sh, cached), then make test-deb;
#                        LG_VERSIONS="17 18" picks versions
#   make test-citus      leakguard on a Citus cluster (coordinator and two
#                        workers): builds Citus from ../shared/citus (or
#                        LG_CITUS_TARBALL) into the PostgreSQL 18 of
#                        test/pg-build.sh, cached; make test-citus
#                        PG_CONFIG=/path/to/pg18/bin/pg_config
#   make test-pg-build   how test/pg-build.sh chooses a verified tarball,
#                        against a local signed mirror (no network)
#   make deb             build the Debian packages postgresql-15-leakguard
#                        and leakguard-monitoring (monitoring/ in
#                        /usr/share/leakguard/monitoring/) into build/deb/
#   make test-deb        build it, install it with dpkg, check it on a
#                        throwaway server, then remove it and reinstall
#                        from the working tree (root only)
#   make demo            a live demonstration on a throwaway server
#   make docs            write the generated reference tables of README.md
#                        and docs/ from a throwaway server (test/docs.sh);
#                        test/t/045_docs_generated.pl checks them
#   make dist            the PGXN release bundle leakguard-X.Y.Z.zip (the
#                        committed tree at HEAD, META.json at its root)
#   make test-fleet      the fleet tests: monitoring/ against the real
#                        exporter and Prometheus, Patroni, the PGXN bundle
#   make test-drivers    what psycopg2, psycopg 3, asyncpg, SQLAlchemy,
#                        pgjdbc, node-postgres and PgBouncer report when
#                        leakguard ends or refuses a session (test/drivers)
#   make bench           benchmarks (test/bench)
#   make bench-episodes  what recording every episode costs the worker's
#                        scans, and the memory it takes (test/bench)
#   make bench-blocking  pgbench under lock contention with the blocking
#                        limit off and on, and its precision (test/bench)
#   make bench-worker    what one wake of the worker costs, in
#                        instructions counted by callgrind (test/bench)
#   make bench-xmin-scan the scan time with 1000 sessions in transactions,
#                        xmin limit off and on (test/bench)
#   make bench-sources   what recording leak sources costs the worker, in
#                        instructions counted by callgrind (test/bench)
#   make bench-lockgraph reads of the views while 200 sessions wait on
#                        row locks, 1.2's lock reading against this one's
#                        (test/bench)
#   make bench-kinds     every kind of limit enabled: the worker's CPU per
#                        scan against 1.2 at 100 and 1000 backends, and
#                        instructions per pgbench -S transaction against
#                        leakguard not loaded (test/bench)
#   make fuzz            fuzz the rule parser and the merge of suggestions
#                        (test/fuzz)
#   make sanitize        the suites against an ASan/UBSan build

MODULE_big = leakguard
OBJS = \
	src/leakguard.o \
	src/settings.o \
	src/rules.o \
	src/histogram.o \
	src/kinds.o \
	src/kindviews.o \
	src/limits.o \
	src/shmem.o \
	src/persist.o \
	src/scan.o \
	src/policy.o \
	src/tracker.o \
	src/measure_xid.o \
	src/measure_lock.o \
	src/terminate.o \
	src/publish.o \
	src/worker.o \
	src/blocking.o \
	src/report.o \
	src/quota.o \
	src/quotacount.o \
	src/episodes.o \
	src/names.o \
	src/prepared.o \
	src/citus.o \
	src/fingerprint.o \
	src/sources.o \
	src/sqlfuncs.o \
	src/suggest.o \
	src/suggestmerge.o
PGFILEDESC = "leakguard - end leaked sessions and connections, per application"

EXTENSION = leakguard
DATA = leakguard--1.0.sql leakguard--1.1.sql leakguard--1.2.sql \
	leakguard--1.0--1.1.sql leakguard--1.1--1.2.sql \
	leakguard--1.2--1.3.sql

REGRESS = limit_for settings views privileges idle_and_quota qualified suggest
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

override CPPFLAGS := -I$(srcdir)/src $(CPPFLAGS)

# PGXS tracks no header dependencies: every object depends on every header,
# so a changed shared struct can never leave objects of two layouts.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

.PHONY: test test-all test-citus test-pg-build deb test-deb demo docs bench bench-episodes bench-blocking bench-worker bench-xmin-scan bench-sources bench-lockgraph bench-kinds fuzz unit sanitize dist test-fleet test-drivers

unit:
	$(MAKE) -C test/unit run

test:
	./test/run-tests.sh

test-citus:
	PG_CONFIG="$(PG_CONFIG)" ./test/citus-test.sh

test-all:
	./test/test-all.sh

test-pg-build:
	./test/pg-build-test.sh

deb:
	./test/deb-build.sh

test-deb:
	./test/deb-test.sh

demo:
	./test/demo.sh

docs:
	./test/docs.sh

# The PGXN bundle: git archive of HEAD under leakguard-X.Y.Z/, X.Y.Z being
# META.json's version; uncommitted changes are not in it.
DIST_VERSION = $(shell perl -MJSON::PP -0777 -ne 'print decode_json($$_)->{version}' $(srcdir)/META.json)

dist:
	@git diff --quiet HEAD -- || echo "make dist: uncommitted changes are not in the bundle" >&2
	git archive --format=zip --prefix=$(EXTENSION)-$(DIST_VERSION)/ \
		--output=$(EXTENSION)-$(DIST_VERSION).zip HEAD

test-fleet:
	./test/fleet-test.sh

test-drivers:
	./test/drivers-test.sh

bench:
	./test/bench/run.sh

bench-episodes:
	./test/bench/episodes.sh

bench-blocking:
	./test/bench/blocking.sh

bench-worker:
	./test/bench/worker-cg.sh

bench-xmin-scan:
	./test/bench/xmin-scan.sh

bench-sources:
	./test/bench/sources-cg.sh

bench-lockgraph:
	./test/bench/lockgraph.sh

bench-kinds:
	./test/bench/kinds.sh

fuzz:
	$(MAKE) -C test/fuzz run FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60)

sanitize:
	./test/sanitize.sh
