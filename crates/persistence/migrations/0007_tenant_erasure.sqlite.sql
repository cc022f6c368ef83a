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

-- A tombstone only records progress: what, who and when it began never
-- change, each later time is set once, and the count only grows.
CREATE TRIGGER tenant_erasures_progress BEFORE UPDATE ON tenant_erasures
WHEN NEW.tenant_id IS NOT OLD.tenant_id
  OR NEW.via IS NOT OLD.via
  OR NEW.requested_at_us IS NOT OLD.requested_at_us
  OR (OLD.key_destroyed_at_us IS NOT NULL AND NEW.key_destroyed_at_us IS NOT OLD.key_destroyed_at_us)
  OR (OLD.completed_at_us IS NOT NULL AND NEW.completed_at_us IS NOT OLD.completed_at_us)
  OR NEW.rows_deleted < OLD.rows_deleted
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_tombstone_kept');
END;

-- Marking moves the catalog version, so a booking checked against a copy
-- taken before the mark (on any server) is refused and read again, and a
-- marked business shows no row to read.
CREATE TRIGGER tenants_catalog_erasing AFTER UPDATE OF erasing_since_us ON tenants
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

-- A business marked for erasure stays marked: the mark cannot be lifted to
-- hide an erasure that removed audit entries.
CREATE TRIGGER tenants_erasing_kept BEFORE UPDATE OF erasing_since_us ON tenants
WHEN OLD.erasing_since_us IS NOT NULL
  AND NEW.erasing_since_us IS NOT OLD.erasing_since_us
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_erasure_mark_kept');
END;
