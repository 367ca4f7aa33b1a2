# LakeStream CEP Builder — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
RUNSTAMP := $(VENV)/.installed

.PHONY: run test lint pytest bench wheel clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNSTAMP): requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(RUNSTAMP)

run: $(RUNSTAMP)
	$(VENV)/bin/streamlit run app.py

lint: $(STAMP)
	$(VENV)/bin/ruff check cep ui pages app.py tests benchmarks
	$(VENV)/bin/mypy

pytest: $(STAMP)
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi; \
	exit $$rc

test: lint pytest

bench: $(STAMP)
	$(PY) -m benchmarks.run --out BENCHMARKS.md
	echo >> BENCHMARKS.md
	$(PY) -m benchmarks.sequence_cases >> BENCHMARKS.md
	echo >> BENCHMARKS.md
	$(PY) -m benchmarks.kinds_report >> BENCHMARKS.md
	for section in packs_generator explain history nl_eval spark_parity; do \
		echo >> BENCHMARKS.md; $(PY) -m benchmarks.$$section >> BENCHMARKS.md || exit 1; \
	done

# The wheel generated Spark jobs install on Databricks (see cep/codegen and docs/deploy.md).
wheel: $(RUNSTAMP)
	$(PY) -m pip wheel -q --no-deps -w dist .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
