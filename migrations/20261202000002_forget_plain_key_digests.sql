-- A plain key (lastname_firstname.jpg) holds a guessable name, so its digest
-- is forgotten once no late event can bring the erased photo back (after the
-- indexer's dead-letter retention). A key with a token is one person's only
-- and stays erased for good. Erasures recorded before this column existed
-- keep their digest.
ALTER TABLE erasure
    MODIFY key_digest BINARY(32) NULL,
    ADD COLUMN key_has_token BOOLEAN NOT NULL DEFAULT TRUE;
