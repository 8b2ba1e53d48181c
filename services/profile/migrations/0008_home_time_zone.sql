-- Where a corporate account is based: a traveller's home time zone is derived from it when
-- nothing closer tells (domain/timezones.py). The first country a source states stays.
ALTER TABLE companies ADD COLUMN country text;
