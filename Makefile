# Two commands matter: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The current official Python SDK (LiveKit generation) is a test peer with the
# same import name as the legacy one above, so it gets a venv of its own; the
# interop tests run it in a subprocess (tests/_sdk024_peer.py).
SDK_VENV := .venv-sdk024
SDK_INSTALLED := $(SDK_VENV)/.installed

.PHONY: setup demo test test-fast bench chromium lint jscheck docs docs-serve dist strip-notebooks binder-check clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,docs]'
	# The official SDK is a test peer only; its opencv-python (GUI build, needs
	# libGL) would shadow our headless OpenCV, so install it without deps.
	$(BIN)/python -m pip install -q --no-deps 'decart==0.0.40'
	touch $(INSTALLED)

# decart 0.2.4 never imports cv2: its opencv-python requirement is left out
# (it would pull a GUI OpenCV build); the rest are its runtime and realtime deps.
$(SDK_INSTALLED): Makefile
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install -q --upgrade pip
	$(SDK_VENV)/bin/python -m pip install -q --no-deps 'decart==0.2.4'
	$(SDK_VENV)/bin/python -m pip install -q 'aiofiles>=23.0.0' 'aiohttp>=3.9.0' 'numpy>=2.0.2' 'pydantic>=2.0.0' \
	  'websockets>=15.0.1' 'livekit>=1.0.0' 'tenacity>=8.0.0'
	touch $(SDK_INSTALLED)

setup: $(INSTALLED) $(SDK_INSTALLED)

demo: $(INSTALLED)
	$(BIN)/decart-widgets demo --out demo-output

# Browser tests need Debian's Chromium; install it when missing (never a
# downloaded browser build: those cannot be fetched here).
chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
	  echo "installing Debian chromium (browser tests need it)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || { echo "could not install chromium"; [ "$$CI" != true ] || exit 1; }; }

test: $(INSTALLED) $(SDK_INSTALLED) chromium lint jscheck docs
	$(BIN)/pytest

test-fast: $(INSTALLED)
	$(BIN)/pytest -m "not browser and not interop"

# Printed figures, not tests: the session suite (its table goes into
# bench/README.md), the codec and jitter A/Bs, the browser path, and the local
# server with both generations of the official Python SDK.
bench: $(INSTALLED) $(SDK_INSTALLED) chromium
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/bench_jitter.py
	$(BIN)/python bench/bench_forward.py
	$(BIN)/python bench/bench_cold.py
	$(BIN)/python bench/bench_sessions.py --media livekit
	$(BIN)/python bench/bench_vp8.py
	$(BIN)/python bench/bench_nodelay.py
	$(BIN)/python bench/bench_browser.py
	$(BIN)/python bench/bench_generations.py

lint: $(INSTALLED)
	$(BIN)/ruff check decart_widgets tests bench
	$(BIN)/mypy decart_widgets

# The widget's JS is plain ESM with JSDoc types, checked by tsc --checkJs
# (typescript from the npm registry, dev-only; node comes with the machine).
jscheck:
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --no-audit --no-fund --silent && node_modules/.bin/tsc -p tsconfig.json && echo "tsc --checkJs: js/ clean"; \
	else echo "npm not found: JS type check skipped"; [ "$$CI" != true ] || exit 1; fi

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns every
# warning (a broken link, a docstring mkdocstrings cannot read) into a failure.
# The notebooks are rendered as committed (no outputs), never executed here:
# tests/test_notebooks.py executes them.
docs: $(INSTALLED)
	@if $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
	  NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site; \
	else echo "make docs: the pinned docs toolchain needs Python 3.11+; docs build skipped"; [ "$$CI" != true ] || exit 1; fi

docs-serve: $(INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

# What Binder does, in a fresh venv (not part of `make test`: about a minute
# and ~300 MB from PyPI): install binder/requirements.txt, run binder/postBuild,
# check the server extension is enabled, run the quickstart with no key.
BINDER_CHECK := build/binder-check
binder-check:
	rm -rf $(BINDER_CHECK) && $(PYTHON) -m venv $(BINDER_CHECK)/env
	export PATH="$(CURDIR)/$(BINDER_CHECK)/env/bin:$$PATH" JUPYTER_CONFIG_DIR="$(CURDIR)/$(BINDER_CHECK)/config" \
	&& unset DECART_API_KEY \
	&& python -m pip install -q -r binder/requirements.txt && bash binder/postBuild \
	&& jupyter server extension list 2>&1 | grep -q "decart_widgets._jupyter_nodelay.*enabled" \
	&& jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=120 --log-level=WARN \
	   --output-dir $(BINDER_CHECK) notebooks/quickstart.ipynb \
	&& echo "binder-check: build, server extension and offline quickstart OK"

# Notebooks are committed without outputs, execution counts or widget state
# (tests/test_notebooks.py fails otherwise): run this before committing one.
strip-notebooks: $(INSTALLED)
	$(BIN)/jupyter nbconvert --clear-output --inplace --log-level=WARN \
	  --ClearMetadataPreprocessor.enabled=True \
	  --ClearMetadataPreprocessor.preserve_nb_metadata_mask=kernelspec \
	  --ClearMetadataPreprocessor.preserve_nb_metadata_mask=language_info \
	  notebooks/*.ipynb

# A wheel and an sdist into dist/ (tests/test_packaging.py checks what they hold).
dist: $(INSTALLED)
	rm -rf dist
	$(BIN)/python -m build --outdir dist

clean:
	rm -rf $(VENV) $(SDK_VENV) demo-output bench/output .pytest_cache node_modules site dist .cache build/binder-check
