-- Episodes of care. Dates are ISO 8601 text; aftercare is a JSON document; discharge columns
-- are NULL until discharge.
CREATE TABLE episodes (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    program TEXT NOT NULL,
    population TEXT NOT NULL,
    status TEXT NOT NULL,
    referral_date TEXT NOT NULL,
    admit_date TEXT,
    primary_clinician TEXT NOT NULL,
    program_director TEXT NOT NULL,
    discharge_date TEXT,
    discharge_reason TEXT,
    discharge_note TEXT,
    aftercare TEXT,
    version BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

-- At most one open (referred or admitted) episode per patient, whoever races to open one.
CREATE UNIQUE INDEX episodes_one_open ON episodes (tenant_id, patient_id) WHERE status <> 'discharged';
CREATE INDEX episodes_patient ON episodes (tenant_id, patient_id, id);
CREATE INDEX episodes_status ON episodes (tenant_id, status, id);

-- Level-of-care history: appended, never updated.
CREATE TABLE episode_levels (
    tenant_id TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    change_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, episode_id, seq),
    FOREIGN KEY (tenant_id, episode_id) REFERENCES episodes (tenant_id, id)
);
