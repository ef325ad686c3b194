-- Most events are a staff user's (no client id), and searches and token requests name no
-- patient: such rows need no entry in the patient or client index, one B-tree write less
-- per event. Queries by patient or client say `<> ''` so the partial index applies.
DROP INDEX audit_by_patient;
DROP INDEX audit_by_client;
CREATE INDEX audit_by_patient ON audit_events (tenant_id, patient_id, time_us) WHERE patient_id <> '';
CREATE INDEX audit_by_client ON audit_events (tenant_id, client_id, time_us) WHERE client_id <> '';
