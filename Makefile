# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint-rulesets bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3 ...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/points check rulesets/o2-business
	$(BIN)/points test rulesets/o2-business
	$(BIN)/points evaluate rulesets/o2-business examples/contracts.csv --out out/demo
	$(BIN)/points explain rulesets/o2-business examples/contracts.csv --partner P-008 --period 2017 --legacy examples/legacy.csv

test: setup lint-rulesets
	$(BIN)/python -m pytest -n 2

# Every ruleset in rulesets/ must be formatted, clean and pass its own examples.
lint-rulesets: setup
	$(BIN)/points fmt --check rulesets
	$(BIN)/points check --strict rulesets/*/
	for program in rulesets/*/; do $(BIN)/points test "$$program" || exit 1; done

bench: setup
	$(BIN)/python bench/bench_evaluate.py

clean:
	rm -rf $(VENV) out .pytest_cache
