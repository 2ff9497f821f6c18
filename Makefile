# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo sample train train-gate fit-verifier evaluate eval-detection eval-driveby explore bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	mkdir -p out
	$(PY) -m realtime run samples/driveby.mp4 --output out/demo.mp4 --events out/events.jsonl --snapshot out/frame.png

# The shipped recognizer: one 20-epoch run (warm-up + cosine schedule, early stopping on the
# track-wise validation split); docs/MODEL.md says why each setting.
train: $(STAMP)
	$(PY) -m training train --data $(DATA)/GTSRB --out models --name gtsrb_cnn --epochs 20 --weight-power 0.5 \
		--patience 8 --clahe-grid 4 --clahe-clip 8

# The gate: one model per fold of the GTSDB scenes (for honest evaluation) and the shipped one.
train-gate: $(STAMP)
	$(PY) -m training train-gate --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --gtsrb $(DATA)/GTSRB \
		--out models

# The verifier reads the recognizer's features: refit it whenever the recognizer or the gate changes.
fit-verifier: $(STAMP)
	$(PY) -m training fit-verifier --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --gtsrb $(DATA)/GTSRB

evaluate: $(STAMP)
	$(PY) -m training evaluate --data $(DATA)/GTSRB --model models/gtsrb_cnn.tflite --split val --out out/evaluate

eval-detection: $(STAMP)
	$(PY) -m training eval-detection --scenes $(DATA)/GTSDB/images --gt $(DATA)/GTSDB/gt.txt --out out/eval-detection

# Re-render the bundled drive-by (samples/) with the current renderer: seed 0, 200 frames at 1280x720, 8 signs.
sample: $(STAMP)
	$(PY) -m training render-driveby --out samples/driveby.mp4 --gt samples/driveby_gt.jsonl --seed 0

eval-driveby: $(STAMP)
	$(PY) -m training eval-driveby --video samples/driveby.mp4 --gt samples/driveby_gt.jsonl

explore: $(STAMP)
	$(PY) -m training explore --data $(DATA)/GTSRB --out out/explore

clean:
	rm -rf out .pytest_cache
