# Two entry points for a fresh machine: `make demo` (the main job on the bundled model) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU build of torch is enough for the demo and the tests; any torch>=2.1 works (see pyproject.toml).
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.svdstory-installed

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)" || $(PY) -m pip install -q "torch>=2.1"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(STAMP)

DEMO_OUT ?= out/demo-$(shell date +%Y%m%d-%H%M%S)
demo: $(STAMP)
	$(VENV)/bin/svdstory generate --subject "a giraffe" --scene "in a forest" --scene "on a beach" \
		--scene "in the snow" --scene "in a city" --method svd --out $(DEMO_OUT)
	@echo "images, grid and run.json are in $(DEMO_OUT)"

test: $(STAMP)
	$(PY) -m pytest

.PHONY: install demo test
