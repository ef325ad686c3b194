-- The clinic's clinicians. Credentials and kinds are comma-separated text codes
-- (`lcsw,md`, `individual_therapy,family_session`), searched with LIKE on `,code,`.
CREATE TABLE clinicians (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    credentials TEXT NOT NULL,
    npi TEXT NOT NULL,
    kinds TEXT NOT NULL,
    -- 1 or 0: one integer type on both databases.
    active BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- One clinician per NPI and per user id within a clinic (empty: none).
CREATE UNIQUE INDEX clinicians_npi ON clinicians (tenant_id, npi) WHERE npi <> '';
CREATE UNIQUE INDEX clinicians_user ON clinicians (tenant_id, user_id) WHERE user_id <> '';
