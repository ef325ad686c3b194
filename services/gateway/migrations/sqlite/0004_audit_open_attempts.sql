-- Attempts of changes whose outcome is not recorded yet: written with the attempt's event,
-- deleted with its outcome's, in the same transactions. What is left here past the grace
-- period (the gateway died, or the trail failed, in between) gets an `interrupted` event.
CREATE TABLE audit_open_attempts (
    seq BIGINT PRIMARY KEY,
    time_us BIGINT NOT NULL
);

CREATE INDEX audit_open_attempts_by_time ON audit_open_attempts (time_us);
