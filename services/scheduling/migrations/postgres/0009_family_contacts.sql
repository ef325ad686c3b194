-- A family session's family contacts who take part (the records service's ids,
-- comma-separated); empty: none.
ALTER TABLE appointments ADD COLUMN family_contact_ids TEXT NOT NULL DEFAULT '';
