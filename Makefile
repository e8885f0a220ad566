# A thin front over standard tools: a local virtual environment, pip,
# pytest, the examples and the benchmarks.  Every target sets itself up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CORE   := $(wildcard csrc/*.c csrc/*/*.c csrc/*/*.h) csrc/build_core.py setup.py pyproject.toml shmcp/_version.py
CC     ?= gcc
CFLAGS_TEST := -std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-DSHMCP_BUILD_VERSION='"test"' -DSHMCP_DEBUG -fsanitize=address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=all
CORE_C := $(wildcard csrc/*.c $(patsubst %,csrc/%/*.c,core iucv vmcf))
CTESTS := $(patsubst csrc/tests/%.c,csrc/build-tests/%,$(wildcard csrc/tests/test_*.c))

.PHONY: test demo stress csrc-test example-core example-sasc clean
.PHONY: example-vmcf example-smsg example-asyncio bench bench-quick
.PHONY: example-reqrep example-stream example-workers

$(STAMP): $(CORE)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

test: csrc-test $(STAMP)
	$(PY) -m pytest -q

# the SAS/C IUCV interface's sample SENDER and RECEIVER programs, two processes, scripted
demo: $(STAMP)
	$(PY) examples/sasc_demo.py

# the same, the sender reading the lines to send from the terminal
example-sasc: $(STAMP)
	$(PY) examples/sasc_demo.py --interactive

# two VMs exchanging interrupts through the core's queueing call
example-core: $(STAMP)
	$(PY) examples/core_demo.py

example-vmcf: $(STAMP)
	$(PY) examples/vmcf/pair.py

example-smsg: $(STAMP)
	$(PY) examples/smsg/server.py

# the server in the background; the client stops it, and make waits for it;
# the two share a system of their own, shut down at the end (nothing left in /dev/shm)
example-asyncio: $(STAMP)
	@export SHMCP_SYSTEM=example-asyncio-$$$$; \
	$(PY) examples/asyncio_service/server.py & \
	$(PY) examples/asyncio_service/client.py && wait $$!; status=$$?; \
	$(PY) -m shmcp shutdown >/dev/null 2>&1; exit $$status

# the Pythonic layer's examples, each beside its multiprocessing twin
example-reqrep: $(STAMP)
	$(PY) examples/reqrep/shmcp_version.py

example-stream: $(STAMP)
	$(PY) examples/stream/shmcp_version.py

example-workers: $(STAMP)
	$(PY) examples/workers/shmcp_version.py

stress: $(STAMP)
	$(PY) -m pytest -q -m stress tests

# `make bench`: the peers are the optional group `bench`; one that will not
# install is left out of the install and reported in bench/results.md.
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_FLAGS ?=

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,bench]' || $(PY) bench/install.py
	touch $@

bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_FLAGS)

bench-quick:
	$(MAKE) bench BENCH_FLAGS=--quick

csrc/build-tests/%: csrc/tests/%.c $(CORE_C) $(wildcard csrc/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) $(CORE_C) $< -o $@ -lpthread

# its own copy of iucv_msg.c, the lockless presentation's atomics hooked
csrc/build-tests/test_present_race: csrc/tests/test_present_race.c $(CORE_C) $(wildcard csrc/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) $(filter-out csrc/iucv/iucv_msg.c,$(CORE_C)) $< -o $@ -lpthread

csrc-test: $(CTESTS)
	@for t in $(CTESTS); do echo "== $$t"; $$t || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info csrc/build-tests shmcp/_core*.so shmcp/_core.c
