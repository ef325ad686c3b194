-- Consents to disclose. categories and purposes are JSON arrays of names; dates are ISO 8601
-- text. A consent is never edited: only the revocation columns are set, once.
CREATE TABLE consents (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    recipient_name TEXT NOT NULL,
    categories TEXT NOT NULL,
    purposes TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    expiration_date TEXT NOT NULL,
    signed_date TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    revoked_by TEXT,
    revoke_time_us BIGINT,
    revoke_reason TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

CREATE INDEX consents_patient_recipient ON consents (tenant_id, patient_id, recipient_id);

-- Family and support contacts. contact is a JSON document (phone, email, address); the two
-- flags are 0/1.
CREATE TABLE family_contacts (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    name TEXT NOT NULL,
    relationship TEXT NOT NULL,
    contact TEXT NOT NULL,
    emergency_contact BIGINT NOT NULL,
    involved BIGINT NOT NULL,
    notes TEXT NOT NULL,
    version BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

CREATE INDEX family_contacts_patient ON family_contacts (tenant_id, patient_id, id);

-- What the patient signed stays as signed; a revocation is recorded once.
CREATE FUNCTION consents_unchanged() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'consents are never deleted';
    END IF;
    IF OLD.revoked_by IS NOT NULL
        OR NEW.recipient_id <> OLD.recipient_id OR NEW.recipient_name <> OLD.recipient_name
        OR NEW.categories <> OLD.categories OR NEW.purposes <> OLD.purposes
        OR NEW.effective_date <> OLD.effective_date OR NEW.expiration_date <> OLD.expiration_date
        OR NEW.signed_date <> OLD.signed_date OR NEW.patient_id <> OLD.patient_id THEN
        RAISE EXCEPTION 'consents are never edited; revoke and record a new one';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER consents_unchanged BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION consents_unchanged();
