-- Whole-business erasure (P10). The directory marks a business being
-- erased, so its slug stops resolving at once, and once it is gone keeps
-- the slug in quarantine (erased_at_us) until it may be taken again. The
-- business's own row carries the mark too: the erasure's batches delete
-- only from a business marked so.
ALTER TABLE tenant_directory ADD COLUMN erasing_since_us INTEGER;
ALTER TABLE tenant_directory ADD COLUMN erased_at_us INTEGER;
ALTER TABLE tenants ADD COLUMN erasing_since_us INTEGER;

-- The system-level tombstone of an erasure: it outlives the business, names
-- no person, and is never removed.
CREATE TABLE tenant_erasures (
    tenant_id           BLOB    NOT NULL PRIMARY KEY,
    via                 TEXT    NOT NULL CHECK (via IN ('api', 'operator')),
    requested_at_us     INTEGER NOT NULL,
    key_destroyed_at_us INTEGER,
    completed_at_us     INTEGER,
    rows_deleted        INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TRIGGER tenant_erasures_kept BEFORE DELETE ON tenant_erasures
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_tombstone_kept');
END;
