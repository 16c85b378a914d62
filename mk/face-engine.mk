# The Rekognition-compatible face engine (local/local-face-engine).
FACE_ENGINE_LISTEN ?= 127.0.0.1:3002
FACE_ENGINE_DATA_DIR ?= $(LOCAL)/face-engine
FACE_ENGINE_DETECTOR ?= hog

.PHONY: face-engine bench-face-engine test-face-engine

# Runs the engine on its own; any AWS SDK can use it through
# AWS_ENDPOINT_URL_REKOGNITION=http://$(FACE_ENGINE_LISTEN).
face-engine: models
	cargo run --locked -p local-face-engine --bin face-engine -- \
		--listen $(FACE_ENGINE_LISTEN) \
		--data-dir $(FACE_ENGINE_DATA_DIR) \
		--models-dir $(MODELS_DIR) \
		--detector $(FACE_ENGINE_DETECTOR)

test-face-engine: models test-images
	cargo test --locked -p local-face-engine

# Python's face_recognition on the same photos and models, the baseline the
# benchmark compares with: its own virtualenv (dlib from the prebuilt
# dlib-bin wheel: building dlib takes a quarter of an hour), benchmarks only.
BASELINE_VENV := $(LOCAL)/python-baseline
BENCH_IMAGES := obama.jpg obama2.jpg obama3.jpg biden.jpg

$(BASELINE_VENV)/.ready: models
	python3 -m venv $(BASELINE_VENV)
	$(BASELINE_VENV)/bin/pip install -q dlib-bin==20.0.1.post1 numpy==2.4.6 pillow==13.0.0 \
		$(LOCAL)/downloads/face_recognition_models-0.3.0.tar.gz
	$(BASELINE_VENV)/bin/pip install -q --no-deps face_recognition==1.3.0
	touch $@

bench-face-engine: models test-images $(BASELINE_VENV)/.ready
	$(BASELINE_VENV)/bin/python scripts/face_recognition_baseline.py $(TEST_IMAGES_DIR) $(BENCH_IMAGES) \
		> $(LOCAL)/python-baseline.json
	FACE_ENGINE_MODELS_DIR=$(MODELS_DIR) FACE_ENGINE_TEST_IMAGES=$(TEST_IMAGES_DIR) \
		FACE_ENGINE_PYTHON_BASELINE=$(LOCAL)/python-baseline.json \
		cargo run --locked --profile fast -p local-face-engine --bin face-engine-bench

bench: bench-face-engine
