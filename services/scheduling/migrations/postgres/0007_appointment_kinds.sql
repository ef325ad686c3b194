-- The clinic's settings of an appointment kind, where it changed the defaults: the default
-- length, the modalities offered (`in_person,telehealth`), the billing code; versioned for
-- If-Match.
CREATE TABLE appointment_kinds (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    default_minutes BIGINT NOT NULL,
    modalities TEXT NOT NULL,
    billing_code TEXT NOT NULL,
    version BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);
