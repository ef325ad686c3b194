-- A rescheduled appointment keeps its row (status `rescheduled`) and names the one that
-- took its place; the new one names where it came from. Empty: none.
ALTER TABLE appointments ADD COLUMN rescheduled_from TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN rescheduled_to TEXT NOT NULL DEFAULT '';
