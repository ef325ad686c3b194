-- Appointments, one row each (an occurrence of a series is one too). Clinician ids are
-- comma-separated; `bookings` holds what each occupies.
CREATE TABLE appointments (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    clinician_ids TEXT NOT NULL,
    location_id TEXT NOT NULL,
    modality TEXT NOT NULL,
    room_id TEXT NOT NULL,
    join_url TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    series_id TEXT NOT NULL,
    overlap_reason TEXT NOT NULL,
    cancel_kind TEXT NOT NULL,
    cancel_reason TEXT NOT NULL,
    cancelled_by TEXT NOT NULL,
    cancel_time_us BIGINT NOT NULL,
    booked_by TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX appointments_patient ON appointments (tenant_id, patient_id, start_us);
CREATE INDEX appointments_series ON appointments (tenant_id, series_id, start_us);
CREATE INDEX appointments_start ON appointments (tenant_id, start_us);

-- What each live appointment (or hold) occupies: `clinician:<id>`, `room:<id>`,
-- `patient:<id>`, over [start_us, end_us). A cancelled or no-show appointment's rows are
-- deleted: its time is free. `exclusive` is 0 for one booked over a conflict on purpose.
CREATE TABLE bookings (
    tenant_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    exclusive BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, resource, appointment_id)
);
CREATE INDEX bookings_span ON bookings (tenant_id, resource, start_us);

-- No double booking, enforced by the database itself: two exclusive bookings of the same
-- resource never overlap, whatever the interleaving of concurrent transactions
-- (https://www.postgresql.org/docs/current/sql-createtable.html#SQL-CREATETABLE-EXCLUDE).
-- btree_gist gives GiST the `=` of text; it is a trusted extension (PostgreSQL 13+).
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
    tenant_id WITH =,
    resource WITH =,
    int8range(start_us, end_us) WITH &&
) WHERE (exclusive = 1);
CREATE INDEX bookings_appointment ON bookings (tenant_id, appointment_id);
