# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# `kerattn demo` (no make) trains a toy attention model from scratch in about 30 s.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow test-zoo test-notebooks test-jax install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The main job: translate with the pretrained English-to-Spanish preset, showing its attention.
demo: install
	$(BIN)/kerattn translate --show-attention "Save the document as PDF." "Turn off the lights"

# Lint and format check, the default tier on TensorFlow, then the layers and backbones on JAX.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n 2
	$(MAKE) test-jax

test-jax: install
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q -n 2 tests/layers tests/models

# pytest exits 5 when a tier has no test yet; that is not a failure.
test-slow: install
	$(BIN)/python -m pytest -q -n 2 -m "slow and not zoo" || [ $$? -eq 5 ]

# The shipped presets against their model cards, and the wheel installed in a fresh venv.
test-zoo: install
	$(BIN)/python -m pytest -q -n 2 -m zoo

# The notebooks, executed top to bottom (they use the shipped presets).
test-notebooks: install
	$(BIN)/python -m pytest -q -n 2 -m notebooks

clean:
	rm -rf $(VENV) build dist *.egg-info
