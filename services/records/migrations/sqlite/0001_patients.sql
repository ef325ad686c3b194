-- Patients of every tenant. Instants are UTC microseconds since the epoch; birth_date is an
-- ISO 8601 calendar date; contact and identifiers are JSON documents.
CREATE TABLE patients (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    given_name TEXT NOT NULL,
    middle_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    preferred_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex_at_birth TEXT NOT NULL,
    gender_identity TEXT NOT NULL,
    pronouns TEXT NOT NULL,
    contact TEXT NOT NULL,
    mrn TEXT,
    identifiers TEXT NOT NULL,
    search_name TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX patients_tenant_mrn ON patients (tenant_id, mrn) WHERE mrn IS NOT NULL;

-- One row per external identifier: enforces uniqueness and serves identifier lookups.
CREATE TABLE patient_identifiers (
    tenant_id TEXT NOT NULL,
    system TEXT NOT NULL,
    value TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, system, value),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX patient_identifiers_patient ON patient_identifiers (tenant_id, patient_id);
