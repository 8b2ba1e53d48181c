-- Term frequencies now cover address parts as well as name parts ("pc:" postcode, "st:" street
-- within its postcode, "ad:" street and house number within it; "f:" and "g:" name parts as
-- before): the table is named for what it holds. Addresses stored before count from their next
-- new record on (as a name part did when the table was made).
ALTER TABLE name_frequencies RENAME TO value_frequencies;
