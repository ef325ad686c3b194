-- A clinician's weekly hours at a location: one row, the week as text
-- (`mon 09:00-17:00,tue 09:00-12:00`), versioned for If-Match.
CREATE TABLE working_hours (
    tenant_id TEXT NOT NULL,
    clinician_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    hours TEXT NOT NULL,
    version BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, clinician_id, location_id)
);
CREATE INDEX working_hours_location ON working_hours (tenant_id, location_id);

-- Time off, closures and extra hours. `clinician_id` is empty for a closure of a location,
-- `location_id` for a clinician's time off everywhere.
CREATE TABLE availability_exceptions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    clinician_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX availability_exceptions_clinician
    ON availability_exceptions (tenant_id, clinician_id, start_us);
CREATE INDEX availability_exceptions_location
    ON availability_exceptions (tenant_id, location_id, start_us);
