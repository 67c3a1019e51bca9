# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOG    := $(VENV)/install.log

.PHONY: setup demo test lint-rulesets bench lock clean screenshots

setup: $(STAMP)

# pip's own chatter (and setuptools' editable-install banner) goes to $(LOG); it is shown only
# when the install fails. requirements.lock pins every package for reproducible runs; the project
# itself is then installed on top without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3 ...)"; exit 2; }
	@echo "Setting up $(VENV)/ (pip's log: $(LOG)) ..."
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/pip install --upgrade pip \
	   && $(BIN)/pip install -r requirements.lock \
	   && $(BIN)/pip install --no-deps -e '.[dev]'; } >$(LOG) 2>&1 \
	 || { tail -n 30 $(LOG); echo "setup failed; the whole log is in $(LOG)"; exit 2; }
	@touch $(STAMP)

demo: setup
	@echo "== 1. Check the example program (syntax, names, meaning, static analysis)"
	$(BIN)/points check rulesets/o2-business
	@echo; echo "== 2. Run the examples written in its rulesets as tests"
	$(BIN)/points test rulesets/o2-business
	@echo; echo "== 3. Score the bundled contract export and record the run in a ledger (out/demo.ledger)"
	@mkdir -p out && rm -f out/demo.ledger out/demo.ledger-wal out/demo.ledger-shm
	$(BIN)/points evaluate rulesets/o2-business examples/contracts.csv --out out/demo --ledger out/demo.ledger
	$(BIN)/points runs --ledger out/demo.ledger
	$(BIN)/points history --partner P-008 --ledger out/demo.ledger
	@echo; echo "== 4. A statement for P-008, 2017, from the recorded run (HTML; --format pdf for print)"
	$(BIN)/points statement --run 1 --ledger out/demo.ledger --partner P-008 --period 2017 --format html --out out/statement-P-008-2017.html
	@echo "Written: out/statement-P-008-2017.html"
	@echo; echo "== 5. Explain one partner's points and tier for 2017"
	$(BIN)/points explain rulesets/o2-business examples/contracts.csv --partner P-008 --period 2017 --legacy examples/legacy.csv
	@echo
	@echo "Shown: a check, the program's examples, a scored export (files in out/demo/, run in out/demo.ledger), a statement and one explanation."
	@echo "Try next (after '. $(VENV)/bin/activate'):"
	@echo "  points explain rulesets/o2-business examples/contracts.csv --contract C-000100 --full"
	@echo "  points explain --run 1 --contract C-000100 --full --ledger out/demo.ledger"
	@echo "  points diff rulesets/o2-business@2016.03 rulesets/o2-business@2017.01 --impact examples/contracts.csv"
	@echo "  points status rulesets/o2-business examples/contracts.csv --legacy examples/legacy.csv"
	@echo "  points quality rulesets/o2-business examples/quality.csv --contracts out/demo"
	@echo "The README's tour explains each of them."
	@ledger=$$([ -f out/demo.ledger ] && echo " --ledger out/demo.ledger"); \
	 echo "The workbench in a browser (disputes, runs, versions, the editor):"; \
	 echo "  $(BIN)/points serve rulesets/o2-business$$ledger --data examples/contracts.csv --legacy examples/legacy.csv"; \
	 echo "  then open http://127.0.0.1:8000/ (docs/workbench.md)"

test: setup lint-rulesets
	$(BIN)/python -m pytest -n 2

# Every ruleset in rulesets/ must be formatted, clean and pass its own examples.
lint-rulesets: setup
	$(BIN)/points fmt --check rulesets
	$(BIN)/points check --strict rulesets/*/
	for program in rulesets/*/; do $(BIN)/points test "$$program" || exit 1; done

# Screenshots of the workbench's main pages, made by its browser journeys (Chromium), into out/screenshots/;
# docs/screenshots/ holds a few of them, copied by hand.
screenshots: setup
	POINTS_SCREENSHOTS=out/screenshots $(BIN)/python -m pytest -p no:xdist -q tests/test_web_browser.py
	@echo "screenshots in out/screenshots/"

bench: setup
	$(BIN)/python bench/bench_evaluate.py
	$(BIN)/python bench/bench_ledger.py
	$(BIN)/python bench/bench_columnar.py

# Re-pin requirements.lock from pyproject.toml in a throwaway environment (run after changing
# a dependency range, and commit the result).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip >/dev/null 2>&1
	.lock-venv/bin/pip install --quiet '.[dev]' >/dev/null 2>&1
	{ echo "# Pinned by 'make lock' from pyproject.toml (runtime and dev extras)."; \
	  .lock-venv/bin/pip freeze --exclude partner-points; } > requirements.lock
	rm -rf .lock-venv build

clean:
	rm -rf $(VENV) out .pytest_cache
