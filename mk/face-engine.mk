# The Rekognition-compatible face engine (local/face-engine).
FACE_ENGINE_LISTEN ?= 127.0.0.1:3002
FACE_ENGINE_DATA_DIR ?= $(LOCAL)/face-engine
FACE_ENGINE_DETECTOR ?= hog

.PHONY: face-engine bench-face-engine test-face-engine

# Runs the engine on its own; any AWS SDK can use it through
# AWS_ENDPOINT_URL_REKOGNITION=http://$(FACE_ENGINE_LISTEN).
face-engine: models
	cargo run --locked -p face-engine --bin face-engine -- \
		--listen $(FACE_ENGINE_LISTEN) \
		--data-dir $(FACE_ENGINE_DATA_DIR) \
		--models-dir $(MODELS_DIR) \
		--detector $(FACE_ENGINE_DETECTOR)

test-face-engine: models test-images
	cargo test --locked -p face-engine

bench-face-engine: models test-images
	FACE_ENGINE_MODELS_DIR=$(MODELS_DIR) FACE_ENGINE_TEST_IMAGES=$(TEST_IMAGES_DIR) \
		cargo run --locked --release -p face-engine --bin face-engine-bench

bench: bench-face-engine
