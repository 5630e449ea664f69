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
NORMS := l2 linf l0
ATTACK_NBS := $(NORMS:%=$(RUNS)/03_attacks_%.ipynb)

export PATH := $(BIN):$(PATH)
export ABSNB_ARTIFACTS := $(abspath $(ARTIFACTS))
export TQDM_MININTERVAL ?= 5
export PYDEVD_DISABLE_FILE_VALIDATION := 1
PAPERMILL := papermill --log-output --request-save-on-cell-execute -k python3 --cwd notebooks
# papermill writes an executed notebook cell by cell: each goes to $(PART) first and is moved into
# place only once it ran (and was retitled) to the end, so a killed run never leaves a page that make
# counts as done.
PART = $(@D)/.partial/$(@F)

.DELETE_ON_ERROR:
.PHONY: screenshots book book-reference attacks distal test bench lint setup clean-book $(TRAINED:%=train-%) $(NORMS:%=attacks-%)

BOOK_NBS := $(TRAIN_NBS) $(RUNS)/02_clean.ipynb $(RUNS)/04_primer.ipynb $(ATTACK_NBS) $(RUNS)/05_results.ipynb \
	$(RUNS)/08_released.ipynb $(RUNS)/07_distal.ipynb $(RUNS)/06_appendix.ipynb

book: $(BOOK_NBS) | setup
	rm -rf book/run && mkdir -p book/run
	cp $(BOOK_NBS) book/run/
	jupyter-book build --warningiserror --keep-going --path-output $(BOOK_OUT) .
	@echo "Book for profile $(PROFILE): $(BOOK_OUT)/_build/html/index.html"

setup: $(STAMP)

# The book of a kept run (REFERENCE, e.g. reference/default) from its executed notebooks as they are:
# nothing is executed or computed, and make looks at no timestamp. absnb.kept refuses a run that lacks a
# page or whose stored results are not those of a full run with today's code.
REFERENCE ?= reference/default
book-reference: | setup
	ABSNB_ARTIFACTS=$(abspath $(dir $(REFERENCE))) python -m absnb.kept $(notdir $(REFERENCE)) \
	  --config $(BOOK_OUT)/_build/kept_config.yml
	rm -rf book/run && mkdir -p book/run
	cp $(REFERENCE)/notebooks/*.ipynb book/run/
	jupyter-book build --warningiserror --keep-going --config $(BOOK_OUT)/_build/kept_config.yml \
	  --path-output $(BOOK_OUT) .
	@echo "Book of the kept run $(REFERENCE): $(BOOK_OUT)/_build/html/index.html"

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	rm -f $(BIN)/../.absnb-installed-* && touch $@

# Training: one executed notebook per model. The notebook reuses finished weights and resumes
# from the last checkpoint, so rerunning after an interruption continues where it stopped.
$(RUNS)/01_train_%.ipynb: notebooks/01_train.ipynb absnb/profiles.toml | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/01_train.ipynb $(PART) -p model $* -p profile $(PROFILE)
	python -m absnb.book $(PART) train $*
	mv $(PART) $@

$(RUNS)/01_train_binary_abs.ipynb: $(RUNS)/01_train_abs.ipynb

$(TRAINED:%=train-%): train-%: $(RUNS)/01_train_%.ipynb

$(RUNS)/02_clean.ipynb: notebooks/02_clean.ipynb $(TRAIN_NBS) | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/02_clean.ipynb $(PART) -p profile $(PROFILE)
	mv $(PART) $@

# Attacks: one executed notebook per norm. Finished (model, attack) pairs and batches are stored,
# so an interrupted run resumes; Latent Descent and the gradient estimates are shared across norms.
$(RUNS)/03_attacks_%.ipynb: notebooks/03_attacks.ipynb absnb/profiles.toml $(TRAIN_NBS) | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/03_attacks.ipynb $(PART) -p norm $* -p profile $(PROFILE)
	python -m absnb.book $(PART) attacks $*
	mv $(PART) $@

attacks: $(ATTACK_NBS)

$(RUNS)/04_primer.ipynb: notebooks/04_primer.ipynb $(RUNS)/01_train_cnn.ipynb | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/04_primer.ipynb $(PART) -p profile $(PROFILE)
	mv $(PART) $@

# Table 1 and Figures 2-3 read the stored results only; the appendix reports every notebook's time.
$(RUNS)/05_results.ipynb: notebooks/05_results.ipynb $(ATTACK_NBS) $(RUNS)/02_clean.ipynb | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/05_results.ipynb $(PART) -p profile $(PROFILE)
	mv $(PART) $@

# The authors' released ABS weights beside ours: reads the clean scores and the attack results only.
$(RUNS)/08_released.ipynb: notebooks/08_released.ipynb $(ATTACK_NBS) $(RUNS)/02_clean.ipynb | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/08_released.ipynb $(PART) -p profile $(PROFILE)
	mv $(PART) $@

# Distal adversarials: from noise to a confident "1", per model; stored per model and resumable.
$(RUNS)/07_distal.ipynb: notebooks/07_distal.ipynb absnb/profiles.toml $(TRAIN_NBS) | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/07_distal.ipynb $(PART) -p profile $(PROFILE)
	mv $(PART) $@

distal: $(RUNS)/07_distal.ipynb

$(RUNS)/06_appendix.ipynb: notebooks/06_appendix.ipynb $(filter-out $(RUNS)/06_appendix.ipynb,$(BOOK_NBS)) | $(STAMP)
	mkdir -p $(@D)/.partial
	$(PAPERMILL) notebooks/06_appendix.ipynb $(PART) -p profile $(PROFILE)
	mv $(PART) $@
$(NORMS:%=attacks-%): attacks-%: $(RUNS)/03_attacks_%.ipynb

test: $(STAMP)
	ruff check absnb tests notebooks
	pytest -ra

# ABS inference speed on real test images with the trained ABS of $(PROFILE) (train it first:
# make train-abs); prints ms/image of the reference loop, the earlier batched path and today's.
bench: $(STAMP)
	python -m absnb.bench --profile $(PROFILE)

lint: $(STAMP)
	ruff check absnb tests notebooks

# Look at the built book as a reader does: headless Chromium screenshots of the key pages.
SHOTS := book/run/05_results book/run/08_released book/run/07_distal book/run/03_attacks_l2 book/run/02_clean book/run/04_primer \
	book/discussion book/intro
CHROMIUM ?= chromium
screenshots:
	mkdir -p $(BOOK_OUT)/_build/screenshots
	for page in $(SHOTS); do \
	  $(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
	    --disable-background-networking --disable-component-update --disable-sync \
	    --user-data-dir=$$(mktemp -d) --window-size=1300,3000 \
	    --screenshot=$(abspath $(BOOK_OUT))/_build/screenshots/$$(basename $$page).png \
	    file://$(abspath $(BOOK_OUT))/_build/html/$$page.html || exit 1; \
	done
	@echo "Screenshots: $(BOOK_OUT)/_build/screenshots/"

clean-book:
	rm -rf book/run $(BOOK_OUT)/_build
