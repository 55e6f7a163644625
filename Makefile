# The two commands of the README:
#   make demo   install everything, start the local stack, run all workers on the demo feeds
#   make test   install everything, lint, type-check and run every test tier (starts the stack)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo run test lint unit integration e2e bench stack-down clean train-sentiment

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/brandpulse demo

run: install
	$(BIN)/brandpulse stack up
	$(BIN)/brandpulse run

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# pytest exits 5 when it collected nothing: for this project that means a broken test
# layout, so it fails the run instead of passing silently.
test: lint
	@$(BIN)/pytest; code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; \
	exit $$code

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

bench: install
	$(BIN)/python bench/run_all.py

# Retrain the shipped sentiment model (enrich/models/) from ../shared/data/sentiment; prints the val
# figures. Not part of CI (CI uses the committed model). The fastText training build goes into
# build/train-lib, never into the venv: it has the same module name as the run-time fasttext-predict.
train-sentiment: install
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,train]'
	$(BIN)/pip install --quiet --no-deps --upgrade --target build/train-lib 'fasttext-numpy2==0.10.4'
	PYTHONPATH=build/train-lib nice $(BIN)/python tools/train_sentiment.py

stack-down: install
	$(BIN)/brandpulse stack down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
