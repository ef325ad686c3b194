-- Idempotency keys of every create call except CreatePatient (which keeps its own table):
-- one row per (tenant, kind, key), written in the same transaction as what it created.
CREATE TABLE create_requests (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    request_id TEXT NOT NULL,
    fingerprint BIGINT NOT NULL,
    resource_id TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, request_id)
);

-- PHQ-9 / GAD-7 answers and their scores. answers is a JSON array of item scores; total and
-- severity are computed by the service when recorded and never change.
CREATE TABLE assessments (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    answers TEXT NOT NULL,
    total BIGINT NOT NULL,
    severity TEXT NOT NULL,
    administered_us BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    safety_flag_id TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

-- A patient's history in administration order (trend charts).
CREATE INDEX assessments_patient_time ON assessments (tenant_id, patient_id, administered_us, id);

-- Safety flags: active while acknowledged_by is NULL.
CREATE TABLE safety_flags (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    assessment_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    raise_time_us BIGINT NOT NULL,
    acknowledged_by TEXT,
    acknowledge_time_us BIGINT,
    acknowledge_note TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
    FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id)
);

CREATE INDEX safety_flags_patient ON safety_flags (tenant_id, patient_id, id);
-- The worklist of active flags stays small however many were ever raised.
CREATE INDEX safety_flags_active ON safety_flags (tenant_id, id) WHERE acknowledged_by IS NULL;
