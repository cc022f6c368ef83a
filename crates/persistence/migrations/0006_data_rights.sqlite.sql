-- Data rights. A legal hold on a tenant stops every erasure of its data
-- and the audit retention purge until it is lifted. An erased customer's
-- row stays as a tombstone that holds nothing personal (its bookings keep
-- their times, so history and capacity stay true); it is never read as a
-- customer again.
ALTER TABLE tenants ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1));
ALTER TABLE customers ADD COLUMN erased_at_us INTEGER;

-- No booking is ever added for an erased customer (a booking that looked
-- its customer up before the erasure and is stored after it fails here),
-- so no intake answer or manage link outlives an erasure. SQLite's one
-- writer orders the two.
CREATE TRIGGER bookings_customer_live BEFORE INSERT ON bookings
WHEN EXISTS (
    SELECT 1 FROM customers
    WHERE tenant_id = NEW.tenant_id AND customer_id = NEW.customer_id
      AND erased_at_us IS NOT NULL
)
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_customer_erased');
END;

-- Where each account has signed in from: keyed digests (under the
-- tenant's data key) of its devices and networks, never the values. A
-- sign-in from one not on record leaves a notice for the account's holder.
CREATE TABLE sign_in_sources (
    tenant_id     BLOB    NOT NULL,
    user_id       BLOB    NOT NULL,
    digest        BLOB    NOT NULL,
    first_seen_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE sign_in_notices (
    tenant_id   BLOB    NOT NULL,
    notice_id   BLOB    NOT NULL,
    user_id     BLOB    NOT NULL,
    at_us       INTEGER NOT NULL,
    address     TEXT,
    user_agent  TEXT,
    new_device  INTEGER NOT NULL CHECK (new_device IN (0, 1)),
    new_network INTEGER NOT NULL CHECK (new_network IN (0, 1)),
    PRIMARY KEY (tenant_id, notice_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX sign_in_notices_by_user ON sign_in_notices (tenant_id, user_id, at_us);
