# Two commands do all the set-up on a fresh machine with Python >= 3.11:
#   make demo   - install into .venv and run the example pipelines end to end
#   make test   - install the test extras into .venv and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint venv clean-demo schema bench rnaseq

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python examples/quickstart.py demo-results/quickstart
	$(BIN)/necroflow run --outdir demo-results/grid examples/necroalchemy_grid.toml
	@echo "--- rerun: nothing to do ---"
	$(BIN)/necroflow run --outdir demo-results/grid examples/necroalchemy_grid.toml

# The real RNA-seq example (needs root for apt: bwa, samtools, subread).
rnaseq: $(VENV)/.installed
	./scripts/install-bio-tools.sh
	$(BIN)/python examples/rnaseq/make_data.py examples/rnaseq/data
	$(BIN)/necroflow run --outdir demo-results/rnaseq examples/rnaseq/rnaseq.toml
	@echo "counts tables:"; ls demo-results/rnaseq/*/join_counts/*/* 2>/dev/null || true

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; exit $$rc

lint: $(VENV)/.installed-test
	$(BIN)/ruff check necroflow tests examples
	$(BIN)/mypy

schema: $(VENV)/.installed
	$(BIN)/python -m necroflow.schemas.export json-schema

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

clean-demo:
	rm -rf demo-results
