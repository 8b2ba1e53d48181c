-- The sound-alike name search reads the names' phonetic codes from the search documents, no
-- longer from blocking keys stored with every record. A document ends with them after "~"
-- (" anna knight | acme ~ #an.nt", both names' codes in one word); the database keeps them as an
-- array beside it, indexed, so "Anne Nite" finds "Anna Knight" by one exact entry.
--
-- Documents written before have no codes: the background job that fills missing documents writes
-- them again (until then such a customer is found by its names' spellings, not by their sound).
UPDATE customers SET search_doc = NULL WHERE search_doc IS NOT NULL;
ALTER TABLE customers ADD COLUMN search_sounds text[]
    GENERATED ALWAYS AS (string_to_array(nullif(btrim(split_part(search_doc, '~', 2)), ''), ' ')) STORED;
CREATE INDEX customers_search_sounds ON customers USING gin (search_sounds) WHERE status = 'active';
-- The trigram search reads the words before the codes: the codes' short words would otherwise
-- join the posting lists of the commonest trigrams and slow every search.
DROP INDEX customers_search;
CREATE INDEX customers_search ON customers
    USING gin ((split_part(search_doc, '~', 1)) extensions.gin_trgm_ops) WHERE status = 'active';
--
-- Blocking keys of kinds no longer computed ("n:", "el:", and "k:" for nicknames of one initial)
-- stay with their records (an erasure removes them with the rest): no lookup computes them, so
-- none reads them.
