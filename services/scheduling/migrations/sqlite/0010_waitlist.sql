-- How long a waitlist offer of a kind stands before it passes to the next patient waiting.
ALTER TABLE appointment_kinds ADD COLUMN waitlist_offer_seconds BIGINT NOT NULL DEFAULT 7200;

-- Patients waiting for an appointment kind at a location, first come first offered.
-- Preferences are comma-separated (clinician ids; days `monday`; windows `HH:MM-HH:MM`;
-- modalities); empty: any. `status`: waiting, offered, booked, withdrawn.
CREATE TABLE waitlist_entries (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    location_id TEXT NOT NULL,
    clinician_ids TEXT NOT NULL,
    days TEXT NOT NULL,
    windows TEXT NOT NULL,
    modalities TEXT NOT NULL,
    status TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    withdraw_reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX waitlist_entries_queue ON waitlist_entries (tenant_id, location_id, status, create_time_us);
CREATE INDEX waitlist_entries_patient ON waitlist_entries (tenant_id, patient_id, create_time_us);

-- Time freed by a cancellation, a no-show, a reschedule or a released hold, written in the
-- same transaction that freed it, so none is lost to a crash. `state`: pending (to be
-- matched), offered (an offer stands), idle (no entry matched; matched again when one
-- arrives), filled, lapsed (its start passed).
CREATE TABLE waitlist_openings (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    location_id TEXT NOT NULL,
    clinician_ids TEXT NOT NULL,
    room_id TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    state TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX waitlist_openings_state ON waitlist_openings (state, start_us);
CREATE INDEX waitlist_openings_location ON waitlist_openings (tenant_id, location_id, state);

-- An opening offered to an entry. `status`: open, accepted, declined, expired, taken (the
-- time was booked before it was accepted). At most one open offer per opening and per entry,
-- whatever runs the matching.
CREATE TABLE waitlist_offers (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    opening_id TEXT NOT NULL,
    clinician_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    modality TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    expire_us BIGINT NOT NULL,
    status TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX waitlist_offers_entry ON waitlist_offers (tenant_id, entry_id, create_time_us);
CREATE INDEX waitlist_offers_opening ON waitlist_offers (tenant_id, opening_id);
CREATE INDEX waitlist_offers_due ON waitlist_offers (status, expire_us);
CREATE UNIQUE INDEX waitlist_offers_one_per_opening ON waitlist_offers (tenant_id, opening_id) WHERE status = 'open';
CREATE UNIQUE INDEX waitlist_offers_one_per_entry ON waitlist_offers (tenant_id, entry_id) WHERE status = 'open';
