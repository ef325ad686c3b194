-- Referrals from partner systems. details is the JSON of what was sent (patient, contact,
-- reason, program); history is the JSON list of status changes, oldest first.
CREATE TABLE referrals (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    source_client TEXT,
    organization TEXT NOT NULL,
    urgency TEXT NOT NULL,
    status TEXT NOT NULL,
    details TEXT NOT NULL,
    history TEXT NOT NULL,
    decline_reason TEXT NOT NULL,
    intake_time_us BIGINT,
    patient_id TEXT,
    episode_id TEXT,
    version BIGINT NOT NULL,
    create_time_us BIGINT NOT NULL,
    update_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX referrals_status ON referrals (tenant_id, status, id);
-- A partner's own referrals (the closed loop).
CREATE INDEX referrals_source ON referrals (tenant_id, source_client, id);
