# Microcurrent firmware: one entry point for developers and CI.
#
#   make sim        run the firmware on the simulated board (default scenario) -> out/sim/
#   make test       pytest (CPython + the MicroPython VM suite), mpy build, typecheck, lint;
#                   one summary at the end, non-zero exit if any part failed
#   make deploy BOARD=pico|esp32 PORT=/dev/ttyACM0
#
# A fresh machine needs only python3 (>= 3.11), node (>= 18) and npm: every target that needs
# the virtualenv or the VM's node_modules sets them up first (stamp files, so only once).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.stamp-requirements-dev
MPVM := tools/mpvm
NODE_STAMP := $(MPVM)/node_modules/.stamp-package-lock
STUBS_STAMP := build/stubs/.stamp-typecheck

BOARD ?= pico
PORT ?= auto
RUNTIME ?= cpython
SIM_OUT ?= out/sim
SIM_ARGS ?=
PYTEST_ARGS ?=
LOGREPORT_ARGS ?=

TEST_PARTS := pytest mpy typecheck lint
TEST_LOGS := build/test

.PHONY: help venv node stubs test test-pytest test-mpy test-typecheck test-lint pytest mpy \
	typecheck lint fmt sim bench soak deploy repl selftest ports logreport hil clean distclean

help:
	@sed -n '1,9p' Makefile | sed 's/^# \{0,1\}//'
	@echo "other targets: venv node stubs pytest mpy typecheck lint fmt bench soak repl selftest"
	@echo "               ports logreport clean distclean"
	@echo "               report (output characteristics and traceability: build/report/)"

# ---- set-up ----

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node: $(NODE_STAMP)

$(NODE_STAMP): $(MPVM)/package.json $(MPVM)/package-lock.json
	cd $(MPVM) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# the MicroPython port stubs for `make typecheck` (pip, each port in its own folder)
stubs: $(STUBS_STAMP)

$(STUBS_STAMP): tools/typecheck/run.py $(VENV_STAMP)
	$(PY) -m tools.typecheck --install-only
	@touch $@

# ---- the test run ----

# Each part runs even if an earlier one failed; the summary comes last.
test: venv node stubs
	@rm -rf $(TEST_LOGS) build/mpy_sizes.json; mkdir -p $(TEST_LOGS); \
	for part in $(TEST_PARTS); do \
	  echo "==== $$part ===="; \
	  start=$$(date +%s); \
	  if $(MAKE) --no-print-directory test-$$part; then r=pass; else r=FAIL; fi; \
	  echo "$$r $$(( $$(date +%s) - start ))" > $(TEST_LOGS)/$$part.status; \
	done; \
	$(PY) .ci/test_summary.py $(TEST_LOGS) $(TEST_PARTS)

# SIM_LONG=1: every shipped scenario runs, the course over weeks included (about 2 min)
test-pytest: venv node
	@set -o pipefail; SIM_LONG=1 MPVM_CHECKS_FILE=$(TEST_LOGS)/mp_checks.json \
	  $(PY) -m pytest -q host_tests --junitxml=$(TEST_LOGS)/pytest.xml $(PYTEST_ARGS) 2>&1 \
	  | tee $(TEST_LOGS)/pytest.log

test-mpy: venv
	@set -o pipefail; $(PY) -m tools.build_mpy 2>&1 | tee $(TEST_LOGS)/mpy.log

test-typecheck: venv stubs
	@set -o pipefail; $(PY) -m tools.typecheck 2>&1 | tee $(TEST_LOGS)/typecheck.log

test-lint: venv
	@set -o pipefail; { $(PY) -m ruff check .; a=$$?; $(PY) -m ruff format --check .; \
	  b=$$?; exit $$((a || b)); } 2>&1 | tee $(TEST_LOGS)/lint.log

# ---- single parts ----

pytest: venv node
	$(PY) -m pytest -q host_tests $(PYTEST_ARGS)

mpy: venv
	$(PY) -m tools.build_mpy

typecheck: venv stubs
	$(PY) -m tools.typecheck

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: venv
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

soak: venv node
	HYPOTHESIS_PROFILE=soak $(PY) -m pytest -q host_tests $(PYTEST_ARGS)

# ---- simulator and figures ----

sim: venv node
	$(PY) -m tools.sim --out $(SIM_OUT) $(if $(filter micropython,$(RUNTIME)),--runtime micropython) $(SIM_ARGS)

bench: venv node mpy
	$(PY) -m tools.bench

# output characteristics of every preset into 500 Ohm..100 kOhm at both caps, contact monitor,
# fault reactions, traceability matrix -> build/report/index.html (a few minutes on 2 cores);
# REPORT_ARGS="--copy-to docs/report" refreshes the copy the README links
.PHONY: report
REPORT_ARGS ?=
report: venv
	$(PY) -m tools.report --out build/report $(REPORT_ARGS)

# ---- the emulated RP2040 (hardware in the loop; not part of make test) ----
# make hil PICO_FIRMWARE=firmware.bin PICO_BOOTROM=bootrom.bin [HIL_ARGS="--program relax"]
PICO_FIRMWARE ?=
PICO_BOOTROM ?=
HIL_ARGS ?=

hil: venv
	$(PY) -m pip install -q --disable-pip-version-check littlefs-python
	$(PY) -m tools.hil --firmware "$(PICO_FIRMWARE)" --bootrom "$(PICO_BOOTROM)" $(HIL_ARGS)

# ---- a real board (mpremote) ----

deploy: venv
	$(PY) -m tools.deploy deploy --board $(BOARD) --port $(PORT)

repl: venv
	$(PY) -m tools.deploy repl --port $(PORT)

selftest: venv
	$(PY) -m tools.deploy selftest --port $(PORT)

ports: venv
	$(PY) -m tools.deploy ports

logreport: venv
	$(PY) -m tools.logreport $(LOGREPORT_ARGS)

clean:
	rm -rf build out sim_out .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -path ./$(MPVM)/node_modules -prune -o \
	  -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(MPVM)/node_modules
