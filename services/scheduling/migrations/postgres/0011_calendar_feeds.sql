-- Calendar feeds of a clinician's or a room's schedule (one of the two ids is empty). Only
-- the SHA-256 of a feed's secret is kept (hex), unique across clinics: the secret is shown
-- once, when the feed is made.
CREATE TABLE calendar_feeds (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    clinician_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    revoked BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    revoked_by TEXT NOT NULL,
    revoke_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX calendar_feeds_secret ON calendar_feeds (secret_sha256);
CREATE INDEX calendar_feeds_created ON calendar_feeds (tenant_id, create_time_us);
