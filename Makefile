# The two commands of the workbook (see README.md). Each sets up .venv if it is missing.
#   make workbook   run every notebook in quick mode with papermill into build/ and print a table
#   make test       unit tests + nbval over every notebook
#   make e2e        every lesson's explorers in JupyterLab and Chromium (ARGS="--lessons 01,04" for some)
#   make robustness every lesson's claims over seeds 0..9 (hours on 2 cores; ARGS="--seeds 0..2" screens)
#   make book       the executed lessons as a static website in build/book/ (runs the lessons not yet current)
#   make assignments the student versions of every lesson (nbgrader generate_assignment) into build/release/
# Extra arguments go in ARGS, e.g. make workbook ARGS="--seed 3 --only 01".

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.osrkit-installed
ARGS ?=

.PHONY: workbook test e2e robustness assignments book lab clean help

help:
	@echo "make workbook   run all notebooks (quick mode) into build/ and print their numbers"
	@echo "make test       run the unit tests and nbval over every notebook"
	@echo "make e2e        run every lesson in JupyterLab + Chromium: explorers, latency table, save and reopen"
	@echo "make robustness sweep every lesson over 10 seeds and report how often its claims hold"
	@echo "make assignments write the student versions (nbgrader) of every lesson into build/release/"
	@echo "make book       build the executed lessons as a website into build/book/ (open build/book/index.html)"
	@echo "make lab        open the lessons in JupyterLab"

workbook: $(STAMP)
	$(BIN)/python -m osrkit.workbook $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e $(ARGS)

robustness: $(STAMP)
	$(BIN)/python -m osrkit.robustness --run --threads 2 --update-summary $(ARGS)

assignments: $(STAMP)
	$(BIN)/python -m osrkit.assignments --course build $(ARGS)

book: $(STAMP)
	$(BIN)/python -m osrkit.book $(ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing osrkit and its dependencies into $(VENV) (torch is large: a few minutes the first time)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@# an editable install skips data files: enable osrkit.lab (saved lessons reopen cleanly) in this environment
	@mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d
	cp jupyter-config/jupyter_server_config.d/osrkit.json $(VENV)/etc/jupyter/jupyter_server_config.d/
	@touch $(STAMP)

clean:
	rm -rf build notebooks/results
