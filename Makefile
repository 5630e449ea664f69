# The book of Schott et al. (2019), reproduced. Two commands do everything on a fresh machine:
#   make book   # creates .venv if missing, installs the pinned stack, trains, evaluates, builds HTML
#   make test   # the same set-up, then the unit tests and the smoke profile end to end
# PROFILE=smoke|default|paper picks the scale (default: default). BIN=$$CONDA_PREFIX/bin uses an
# existing environment (e.g. the conda one of environment.yml) instead of creating .venv.

PROFILE ?= default
PYTHON ?= python3
ARTIFACTS ?= artifacts
BOOK_OUT ?= .
VENV ?= .venv
BIN ?= $(abspath $(VENV))/bin
STAMP := $(BIN)/../.absnb-installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
RUNS := $(ARTIFACTS)/$(PROFILE)/notebooks
TRAINED := cnn binary_cnn substitute nearest madry abs binary_abs
TRAIN_NBS := $(TRAINED:%=$(RUNS)/01_train_%.ipynb)

export PATH := $(BIN):$(PATH)
export ABSNB_ARTIFACTS := $(abspath $(ARTIFACTS))
export TQDM_MININTERVAL ?= 5
export PYDEVD_DISABLE_FILE_VALIDATION := 1
PAPERMILL := papermill --log-output --request-save-on-cell-execute -k python3 --cwd notebooks

.DELETE_ON_ERROR:
.PHONY: book test bench lint setup clean-book $(TRAINED:%=train-%)

book: $(TRAIN_NBS) $(RUNS)/02_clean.ipynb | setup
	rm -rf book/run && mkdir -p book/run
	cp $(RUNS)/*.ipynb book/run/
	jupyter-book build --warningiserror --keep-going --path-output $(BOOK_OUT) .
	@echo "Book for profile $(PROFILE): $(BOOK_OUT)/_build/html/index.html"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(BIN)/../.absnb-installed-* && touch $@

# Training: one executed notebook per model. The notebook reuses finished weights and resumes
# from the last checkpoint, so rerunning after an interruption continues where it stopped.
$(RUNS)/01_train_%.ipynb: notebooks/01_train.ipynb absnb/profiles.toml | $(STAMP)
	mkdir -p $(@D)
	$(PAPERMILL) notebooks/01_train.ipynb $@ -p model $* -p profile $(PROFILE)
	python -m absnb.book $@ $*

$(RUNS)/01_train_binary_abs.ipynb: $(RUNS)/01_train_abs.ipynb

$(TRAINED:%=train-%): train-%: $(RUNS)/01_train_%.ipynb

$(RUNS)/02_clean.ipynb: notebooks/02_clean.ipynb $(TRAIN_NBS) | $(STAMP)
	$(PAPERMILL) notebooks/02_clean.ipynb $@ -p profile $(PROFILE)

test: $(STAMP)
	ruff check absnb tests notebooks
	pytest -ra

bench: $(STAMP)
	python -m absnb.bench

lint: $(STAMP)
	ruff check absnb tests notebooks

clean-book:
	rm -rf book/run $(BOOK_OUT)/_build
