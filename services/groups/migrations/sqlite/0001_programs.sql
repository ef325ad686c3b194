-- The clinic's treatment programs. List-valued columns hold comma-separated text values
-- (`therapies`) or ids (`staff_clinician_ids`).
CREATE TABLE programs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Lower-cased name: unique within the clinic whatever the case.
    name_key TEXT NOT NULL,
    description TEXT NOT NULL,
    population TEXT NOT NULL,
    level_of_care TEXT NOT NULL,
    substance_use_disorder BIGINT NOT NULL,
    therapies TEXT NOT NULL,
    modality TEXT NOT NULL,
    expected_weeks BIGINT NOT NULL,
    weekly_minutes BIGINT NOT NULL,
    staff_clinician_ids TEXT NOT NULL,
    active BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    -- 1 when created, one more with every change: the etag.
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name_key)
);

-- A program's tracks: rolling groups meeting on a weekly pattern. `meetings` is
-- `day HH:MM-HH:MM` entries separated by commas; `curriculum` topics one per line.
CREATE TABLE tracks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    program_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Lower-cased name: unique within its program whatever the case.
    name_key TEXT NOT NULL,
    location_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    modality TEXT NOT NULL,
    meetings TEXT NOT NULL,
    facilitator_clinician_ids TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    curriculum TEXT NOT NULL,
    start_date TEXT NOT NULL,
    active BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, program_id, name_key)
);
CREATE INDEX tracks_program ON tracks (tenant_id, program_id, id);

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
