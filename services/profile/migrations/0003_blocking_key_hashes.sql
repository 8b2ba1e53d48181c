-- Blocking keys as 64-bit hashes in one index: a record's ~7 keys cost 7 entries of one
-- narrow B-tree instead of 14 entries of two text indexes (the cost that grew with the
-- population). The hash is the first 8 bytes of the key's MD5, as a signed bigint; the
-- adapter computes the same in Python. A collision only adds a candidate, which scoring
-- then rejects. A record's old keys are deleted by recomputing them from its stored
-- features, so there is no index by record any more.
CREATE TABLE blocking_key_hashes (
    key_hash      bigint NOT NULL,
    source_system text   NOT NULL,
    source_id     text   NOT NULL,
    PRIMARY KEY (key_hash, source_system, source_id)
);
INSERT INTO blocking_key_hashes (key_hash, source_system, source_id)
SELECT DISTINCT ('x' || left(md5(key), 16))::bit(64)::bigint, source_system, source_id FROM blocking_keys;
DROP TABLE blocking_keys;
