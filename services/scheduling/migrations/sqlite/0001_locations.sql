-- A clinic's sites, each with the IANA time zone its local times are read in.
CREATE TABLE locations (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Lower-cased name: unique within the clinic whatever the case.
    name_key TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    address TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name_key)
);

-- Idempotency keys of creates (iop_kit::idempotency), written in the transaction of what
-- they created.
CREATE TABLE create_requests (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint BIGINT NOT NULL,
    resource_id TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, request_id)
);
