# Two commands do everything on a fresh machine: `make run` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve test test-fast install browser bench i18n i18n-extract i18n-update i18n-compile

run: $(VENV)/.installed
	$(BIN)/mnistlab run

# The studio in the browser: http://127.0.0.1:8000 (Ctrl+C stops it). `make run` first trains the networks
# it shows; SERVE_ARGS passes flags, e.g. make serve SERVE_ARGS="--mlp multinn.pth --cnn cnn.pth".
serve: $(VENV)/.installed
	$(BIN)/mnistlab serve $(SERVE_ARGS)

test: $(VENV)/.installed browser
	$(BIN)/python -m pytest

# The quick subset while working: no full trainings, no notebook run.
test-fast: $(VENV)/.installed browser
	$(BIN)/python -m pytest -m "not slow"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off -q -e '.[dev]'
	touch $@

# The browser tests drive Debian's chromium through Playwright (Playwright's own download is not
# needed); `mnistlab check` and `grade` run students' notebooks in Debian's bubblewrap (bwrap). The one
# place that installs both: `make test` and CI come through here.
browser:
	@{ command -v chromium && command -v bwrap; } >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium bubblewrap; }

# Speed comparisons (not tests): each prints its figures and ratios.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/time_to_accuracy.py
	$(BIN)/python benchmarks/web_latency.py
	$(BIN)/python benchmarks/check_speed.py

# Languages (gettext through Babel): extract the messages of src/mnistlab into the template, merge it
# into each language's .po (translate what is new or fuzzy there), compile the .mo the package loads.
LOCALE := src/mnistlab/locale
i18n: i18n-extract i18n-update i18n-compile

i18n-extract: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ --sort-output --no-location --project mnistlab \
	  --copyright-holder "mnistlab contributors" -o $(LOCALE)/mnistlab.pot src/mnistlab

i18n-update: $(VENV)/.installed
	$(BIN)/pybabel update -D mnistlab -i $(LOCALE)/mnistlab.pot -d $(LOCALE) --ignore-obsolete --width 100

i18n-compile: $(VENV)/.installed
	$(BIN)/pybabel compile -D mnistlab -d $(LOCALE) --statistics
