-- The SHA-256 of each person's photo as uploaded (64 hexadecimal digits):
-- a re-run of a bulk import finds by it the files already in. S3's ETag
-- cannot serve: for objects encrypted with KMS it is not an MD5 of the bytes.
ALTER TABLE person
    ADD COLUMN photo_sha256 CHAR(64) CHARACTER SET ascii NULL AFTER object_sequencer,
    ADD INDEX person_photo_sha256 (photo_sha256);
