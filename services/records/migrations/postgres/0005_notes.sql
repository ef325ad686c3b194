-- Clinical notes. Times are UTC microseconds; start/end (the session) and episode are
-- optional; signed_by and sign_time_us are set once, when the note is signed.
CREATE TABLE notes (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    episode_id TEXT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    start_us BIGINT,
    end_us BIGINT,
    author TEXT NOT NULL,
    signed_by TEXT,
    sign_time_us BIGINT,
    version BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

CREATE INDEX notes_patient ON notes (tenant_id, patient_id, id);
CREATE INDEX notes_author ON notes (tenant_id, author, id);

-- Addenda to signed notes: appended, never changed.
CREATE TABLE note_addenda (
    tenant_id TEXT NOT NULL,
    note_id TEXT NOT NULL,
    id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, note_id, id),
    FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id)
);

-- A signed note is locked for everyone, whatever code runs against the database.
CREATE FUNCTION notes_locked() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'notes are never deleted';
    END IF;
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'signed notes are immutable';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER notes_signed_locked BEFORE UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION notes_locked();

CREATE FUNCTION note_addenda_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'addenda are immutable';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER note_addenda_no_change BEFORE UPDATE OR DELETE ON note_addenda
    FOR EACH ROW EXECUTE FUNCTION note_addenda_append_only();
