-- API tokens. Only a SHA-256 of the secret is kept; `prefix` (the secret's
-- first characters) lets people recognise a token in lists.
CREATE TABLE api_tokens (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(63) NOT NULL,
    role VARCHAR(16) NOT NULL,
    prefix VARCHAR(16) NOT NULL,
    secret_hash VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (secret_hash);

-- Rate-limit budgets an admin changed; tiers not listed use the config's.
CREATE TABLE rate_limits (
    tier VARCHAR(16) NOT NULL PRIMARY KEY,
    requests BIGINT NOT NULL,
    period_seconds BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
