-- The sound-alike name search reads the names' phonetic codes from the search documents
-- ("#nt" for Knight and Nite), no longer from blocking keys stored with every record. Documents
-- written before have none: they are written again by the background job that fills missing
-- documents (until then such a customer is found by its names' spellings, not by their sound).
-- Blocking keys of kinds no longer computed ("n:", "el:", and "k:" for nicknames of one initial)
-- stay with their records (an erasure removes them with the rest): no lookup computes them, so
-- none reads them.
UPDATE customers SET search_doc = NULL WHERE search_doc IS NOT NULL;
