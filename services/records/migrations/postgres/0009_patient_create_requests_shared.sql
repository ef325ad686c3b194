-- CreatePatient's idempotency keys join every other create's: one table, one mechanism.
INSERT INTO create_requests (tenant_id, kind, request_id, fingerprint, resource_id, create_time_us)
SELECT tenant_id, 'patient', request_id, fingerprint, patient_id, create_time_us
FROM patient_create_requests;

DROP TABLE patient_create_requests;
