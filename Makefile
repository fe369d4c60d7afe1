# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    := out/demo

.PHONY: demo test browser lint typecheck verify calibration bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "metacascade needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# Stamps: reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@ $(VENV)/.installed

## demo: create .venv, install, simulate a breast cancer patient and report it, route cells, write the catalog
demo: $(VENV)/.installed
	@mkdir -p $(OUT)
	$(BIN)/metacascade simulate --cancer breast --seed 1 --out $(OUT)/breast
	$(BIN)/metacascade report $(OUT)/breast
	$(BIN)/metacascade route --cancer breast
	$(BIN)/metacascade route --cancer breast --json > $(OUT)/route_breast.json
	$(BIN)/metacascade route --cancer prostate --json > $(OUT)/route_prostate.json
	$(BIN)/metacascade route --cancer prostate --no-vertebral-plexus --json > $(OUT)/route_prostate_no_plexus.json
	$(BIN)/metacascade catalog > $(OUT)/catalog.txt
	$(BIN)/metacascade catalog --json > $(OUT)/catalog.json
	@echo "demo outputs written to $(OUT)/"

## test: create or update .venv with the test extras; lint, type-check, run the tests
test: $(VENV)/.installed-test browser lint typecheck
	$(BIN)/python -m pytest

## browser: Debian's Chromium for the dashboard's browser test, installed when missing
## (as root, with apt-get; Playwright cannot download its own browsers here)
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the dashboard's browser test"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium >/dev/null; \
	else \
		echo "make: $(CHROMIUM) is missing and cannot be installed here (not root, or no" \
			"apt-get): install Debian's chromium to run tests/test_dashboard_browser.py;" \
			"without it that test is skipped, or fails when CI=true"; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests verification benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

## verify: the long statistical checks (on demand)
verify: $(VENV)/.installed-test
	$(BIN)/python -m pytest verification

## calibration: refit the catalog's calibrated values (diSibio 2008, seed 1, about 11 min
## on 2 cores) and copy them into the package (src/metacascade/data/calibrated_disibio2008.json)
## and the fit's figure into the README's (docs/figures/calibration_fit.png)
calibration: $(VENV)/.installed-test
	$(BIN)/metacascade calibrate --targets disibio2008 --seed 1 --workers 2 --out out/calibration
	cp out/calibration/catalog_values.json src/metacascade/data/calibrated_disibio2008.json
	cp out/calibration/fit.png docs/figures/calibration_fit.png

$(VENV)/.installed-fast: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[fast]'
	@touch $@ $(VENV)/.installed

## bench: the performance measurements, one JSON object each (with the `fast` extra:
## numba's compiled loops, same results)
bench: $(VENV)/.installed-fast
	$(BIN)/python benchmarks/routing.py --json
	$(BIN)/python benchmarks/engine.py --json
	$(BIN)/python benchmarks/cohort.py --json

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
