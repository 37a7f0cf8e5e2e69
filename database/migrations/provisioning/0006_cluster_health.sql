-- A cluster's health as monitoring last judged it (`cg.health.results`),
-- and when: answers say `unknown` once it is stale.
ALTER TABLE clusters ADD COLUMN health VARCHAR(16) NOT NULL DEFAULT 'unknown';
ALTER TABLE clusters ADD COLUMN health_at BIGINT NOT NULL DEFAULT 0;
