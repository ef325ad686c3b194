-- Idempotency keys of CreatePatient: one row per key, written in the same transaction as the
-- patient it created, so a retried or concurrent duplicate finds the first patient.
CREATE TABLE patient_create_requests (
    tenant_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint BIGINT NOT NULL,
    patient_id TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
