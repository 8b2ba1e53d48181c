-- A business traveller's golden email is the one on the company's domain (domain/contacts.py):
-- the domains are looked up by company.
CREATE INDEX company_domains_company ON company_domains (company_id);
