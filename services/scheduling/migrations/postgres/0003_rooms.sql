-- Rooms of a location. Name unique within the location, whatever the case.
CREATE TABLE rooms (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    -- 1 or 0: one integer type on both databases.
    active BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, location_id, name_key)
);
