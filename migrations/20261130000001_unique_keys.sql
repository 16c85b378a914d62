-- Object keys compare byte for byte: two keys that differ only in case or
-- accents are two objects in S3, so they are two people here. Existing
-- keys keep their values (their objects are not copied).
ALTER TABLE person MODIFY object_key VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
