-- Treatment plans: one row per version. content is the JSON list of problems (with goals,
-- objectives and interventions); edits counts changes of a draft version (its etag).
CREATE TABLE treatment_plans (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    patient_id TEXT NOT NULL,
    episode_id TEXT,
    status TEXT NOT NULL,
    content TEXT NOT NULL,
    review_due_date TEXT,
    author TEXT NOT NULL,
    signed_by TEXT,
    sign_time_us BIGINT,
    edits BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id, version),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

CREATE INDEX treatment_plans_patient ON treatment_plans (tenant_id, patient_id, id);

-- Progress on goals, appended; a goal keeps its id across versions.
CREATE TABLE goal_progress (
    tenant_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    id TEXT NOT NULL,
    goal_id TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    record_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plan_id, id)
);

-- A signed version is immutable, whatever code runs against the database.
CREATE FUNCTION treatment_plans_locked() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'treatment plan versions are never deleted';
    END IF;
    IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'signed treatment plan versions are immutable';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER treatment_plans_signed_locked BEFORE UPDATE OR DELETE ON treatment_plans
    FOR EACH ROW EXECUTE FUNCTION treatment_plans_locked();
