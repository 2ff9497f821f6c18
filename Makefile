# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo sample train train-folds train-gate train-locator fit-verifier evaluate eval-detection eval-driveby explore bench clean

venv: $(STAMP)

# One environment for everything `make` runs: the package (editable) with the extras that the tests
# (test, and fleet for `realtime batch`) and the training targets (train) need. A plain
# `pip install .` is the inference-only base (README, Install).
EXTRAS ?= train,test,fleet
$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	mkdir -p out
	$(PY) -m realtime run samples/driveby.mp4 --output out/demo.mp4 --events out/events.jsonl --snapshot out/frame.png

# The shipped recognizer: one fixed 30-epoch schedule on every GTSRB track, the last epoch kept (nothing
# is chosen on validation; docs/MODEL.md says why each setting). train-folds runs the same recipe on
# each fold of a 5-fold track split and scores it: the recipe's cross-validated figures.
RECIPE := --epochs 30 --patience 0 --label-smoothing 0.1 --weight-power 0.5 --clahe-grid 4 --clahe-clip 8 \
	--augment cast_p=0.5 --augment cast=0.2 --augment sticker_p=0.2 --augment whole_p=0.5
FOLDS_OUT := out/recipe-folds
train: $(STAMP)
	$(PY) -m training train --gtsrb $(DATA)/GTSRB --output models --name gtsrb_cnn --val-fraction 0 $(RECIPE)

train-folds: $(STAMP)
	for k in 0 1 2 3 4; do $(PY) -m training train --gtsrb $(DATA)/GTSRB --output $(FOLDS_OUT)/fold$$k \
		--name gtsrb_cnn --folds 5 --fold $$k $(RECIPE) || exit 1; \
		for f in roi whole; do $(PY) -m training evaluate --gtsrb $(DATA)/GTSRB --split val --framing $$f \
			--model $(FOLDS_OUT)/fold$$k/gtsrb_cnn.keras --output $(FOLDS_OUT)/eval$$k-$$f || exit 1; done; done
	$(MAKE) evaluate

# The recipe's cross-validated figures, from train-folds' reports
evaluate: $(STAMP)
	for f in roi whole; do $(PY) -m training fold-summary $(FOLDS_OUT)/eval?-$$f --output $(FOLDS_OUT)/summary-$$f.json \
		|| exit 1; done

# The gate: one model per fold of the GTSDB scenes (for honest evaluation) and the shipped one.
train-gate: $(STAMP)
	$(PY) -m training train-gate --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --gtsrb $(DATA)/GTSRB \
		--output models

# The learned localizer: one per fold of the GTSDB scenes (for eval-detection), then the shipped one (~8 min each)
train-locator: $(STAMP)
	for k in 0 1 2 3 4; do $(PY) -m training train-locator --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt \
		--gtsrb $(DATA)/GTSRB --output models/folds/locator_fold$$k --exclude-fold $$k || exit 1; done
	$(PY) -m training train-locator --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --gtsrb $(DATA)/GTSRB \
		--output models/locator

# The verifier reads the recognizer's features and learns from the gate's and the localizer's candidates:
# refit it whenever the recognizer, the gate or the learned localizer changes.
fit-verifier: $(STAMP)
	$(PY) -m training fit-verifier --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --gtsrb $(DATA)/GTSRB

eval-detection: $(STAMP)
	$(PY) -m training eval-detection --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --output out/eval-detection

# Re-render the bundled drive-by (samples/) with the current renderer: seed 0, 200 frames at 1280x720, 8 signs.
sample: $(STAMP)
	$(PY) -m training render-driveby --output samples/driveby.mp4 --gt samples/driveby_gt.jsonl --seed 0

eval-driveby: $(STAMP)
	$(PY) -m training eval-driveby --video samples/driveby.mp4 --gt samples/driveby_gt.jsonl

explore: $(STAMP)
	$(PY) -m training explore --gtsrb $(DATA)/GTSRB --output out/explore

clean:
	rm -rf out .pytest_cache build dist *.egg-info
