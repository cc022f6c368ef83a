-- Data rights. A legal hold on a tenant stops every erasure of its data
-- and the audit retention purge until it is lifted. An erased customer's
-- row stays as a tombstone that holds nothing personal (its bookings keep
-- their times, so history and capacity stay true); it is never read as a
-- customer again.
ALTER TABLE tenants ADD COLUMN legal_hold boolean NOT NULL DEFAULT false;
ALTER TABLE customers ADD COLUMN erased_at_us bigint;
