-- Backend clients (EHRs, front ends, referral partners) registered by a tenant's admins.
-- client_id is global: a token request names only the client.
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    jwks TEXT NOT NULL,
    scopes TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    version BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL
);

CREATE INDEX clients_by_tenant ON clients (tenant_id, client_id);

-- Client-assertion ids already used, kept until the assertion would have expired: a replay
-- fails on the primary key, whichever gateway replica receives it.
CREATE TABLE used_assertions (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_us BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
