-- The audit trail: one row per access to patient data, allowed or denied. Rows form a hash
-- chain (hash = SHA-256 over prev_hash and the row), so an edited or deleted row is found by
-- `iop audit verify`; triggers refuse UPDATE and DELETE outright.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL,
    time_us BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status TEXT NOT NULL,
    request_id TEXT NOT NULL,
    source_addr TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE INDEX audit_by_time ON audit_events (tenant_id, time_us);
CREATE INDEX audit_by_patient ON audit_events (tenant_id, patient_id, time_us);
CREATE INDEX audit_by_subject ON audit_events (tenant_id, subject, time_us);
CREATE INDEX audit_by_client ON audit_events (tenant_id, client_id, time_us);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
