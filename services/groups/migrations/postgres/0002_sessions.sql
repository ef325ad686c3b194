-- A track is written `pending` with its sessions, then `active` once every session holds
-- its room and facilitators in the scheduling service; a track refused for a clash is
-- removed with its sessions. `generated_through`: the last local date sessions were laid
-- out to.
ALTER TABLE tracks ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
ALTER TABLE tracks ADD COLUMN generated_through TEXT NOT NULL DEFAULT '';

-- A track's sessions, laid out from its weekly pattern. `hold_id`: the scheduling
-- service's hold (an appointment of kind group_hold) of the session's room and
-- facilitators; empty until placed. `number` counts the track's meetings from its first,
-- so the curriculum rotates in order.
CREATE TABLE sessions (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    track_id TEXT NOT NULL,
    local_date TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    number BIGINT NOT NULL,
    topic TEXT NOT NULL,
    room_id TEXT NOT NULL,
    facilitator_clinician_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    create_time_us BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, track_id, local_date)
);
CREATE INDEX sessions_track ON sessions (tenant_id, track_id, start_us);
CREATE INDEX tracks_state ON tracks (state, create_time_us);
