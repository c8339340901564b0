# The two README commands: `make demo` and `make test`. Both create .venv when missing.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0

.PHONY: install demo test bench clean

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

# torch first, pinned: an unpinned resolve could pull a multi-GB CUDA build.
$(STAMP): $(VPY) setup.cfg setup.py
	@$(VPY) -c "import torch" 2>/dev/null || $(VPY) -m pip install -q torch==$(TORCH_VERSION)
	$(VPY) -m pip install -q -e ".[test,llm,bench]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ltr-hyperdpo demo

# pytest exits 5 when no test ran; that must fail, and it does (any non-zero exit fails make).
test: $(STAMP)
	$(VPY) -m pytest -q tests

bench: $(STAMP)
	$(VPY) benchmarks/bench_io.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
