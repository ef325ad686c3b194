-- An intake assessment booked for a referral names it (the records service's); empty: none.
ALTER TABLE appointments ADD COLUMN referral_id TEXT NOT NULL DEFAULT '';
CREATE INDEX appointments_referral ON appointments (tenant_id, referral_id);
