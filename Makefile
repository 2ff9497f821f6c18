# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo train evaluate explore bench clean

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

# The shipped model: 8 epochs of a 20-epoch cosine schedule, then 6 epochs of fine-tuning
# from 8e-4 down to zero (docs/MODEL.md says why two stages).
train: $(STAMP)
	$(PY) -m training train --data $(DATA)/GTSRB --out build/stage1 --name stage1 --epochs 20 --stop-after 8 \
		--weight-power 0.5 --patience 6
	$(PY) -m training train --data $(DATA)/GTSRB --out models --init-from build/stage1/stage1.keras \
		--epochs 6 --lr 8e-4 --warmup-epochs 0 --weight-power 0.5 --patience 6

evaluate: $(STAMP)
	$(PY) -m training evaluate --data $(DATA)/GTSRB --model models/gtsrb_cnn.tflite --split val --out out/evaluate

explore: $(STAMP)
	$(PY) -m training explore --data $(DATA)/GTSRB --out out/explore

clean:
	rm -rf out .pytest_cache
