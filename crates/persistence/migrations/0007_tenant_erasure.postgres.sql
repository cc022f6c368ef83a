-- Whole-business erasure (P10). The directory marks a business being
-- erased, so its slug stops resolving at once, and once it is gone keeps
-- the slug in quarantine (erased_at_us) until it may be taken again. The
-- business's own row carries the mark too, which the one function allowed
-- to delete a business's audit trail checks.
ALTER TABLE tenant_directory ADD COLUMN erasing_since_us bigint;
ALTER TABLE tenant_directory ADD COLUMN erased_at_us bigint;
ALTER TABLE tenants ADD COLUMN erasing_since_us bigint;

-- The system-level tombstone of an erasure: it outlives the business, names
-- no person, and is never removed (the application role may not delete it).
CREATE TABLE tenant_erasures (
    tenant_id           uuid   NOT NULL PRIMARY KEY,
    via                 text   NOT NULL CHECK (via IN ('api', 'operator')),
    requested_at_us     bigint NOT NULL,
    key_destroyed_at_us bigint,
    completed_at_us     bigint,
    rows_deleted        bigint NOT NULL DEFAULT 0
);

-- A tombstone only records progress: what, who and when it began never
-- change, each later time is set once, and the count only grows. A
-- business marked for erasure stays marked: the mark cannot be lifted to
-- hide an erasure that removed audit entries.
CREATE FUNCTION bookwarden_tombstone_progress() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
       OR NEW.via IS DISTINCT FROM OLD.via
       OR NEW.requested_at_us IS DISTINCT FROM OLD.requested_at_us
       OR (OLD.key_destroyed_at_us IS NOT NULL
           AND NEW.key_destroyed_at_us IS DISTINCT FROM OLD.key_destroyed_at_us)
       OR (OLD.completed_at_us IS NOT NULL
           AND NEW.completed_at_us IS DISTINCT FROM OLD.completed_at_us)
       OR NEW.rows_deleted < OLD.rows_deleted THEN
        RAISE EXCEPTION 'bookwarden_tombstone_kept';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tenant_erasures_progress BEFORE UPDATE ON tenant_erasures
FOR EACH ROW EXECUTE FUNCTION bookwarden_tombstone_progress();

CREATE FUNCTION bookwarden_erasing_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.erasing_since_us IS NOT NULL
       AND NEW.erasing_since_us IS DISTINCT FROM OLD.erasing_since_us THEN
        RAISE EXCEPTION 'bookwarden_erasure_mark_kept';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tenants_erasing_kept BEFORE UPDATE OF erasing_since_us ON tenants
FOR EACH ROW EXECUTE FUNCTION bookwarden_erasing_kept();

-- Marking moves the catalog version, so a booking checked against a copy
-- taken before the mark (on any server) is refused and read again, and a
-- marked business shows no row to read.
CREATE TRIGGER tenants_catalog_erasing BEFORE UPDATE OF erasing_since_us ON tenants
FOR EACH ROW EXECUTE FUNCTION bookwarden_tenant_changed();

-- The application role may not delete audit entries. An erasure removes a
-- business's trail through this function, which runs as the schema owner
-- and deletes up to p_limit entries (then the chain head) only for the
-- caller's own business, only while it is marked for erasure and not under
-- a legal hold. pg_temp is searched last, as for the purge.
SELECT set_config('search_path', current_setting('search_path') || ', pg_temp', false);
CREATE FUNCTION bookwarden_erase_audit(p_tenant uuid, p_limit integer)
RETURNS bigint LANGUAGE plpgsql STRICT SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_removed bigint;
BEGIN
    IF NULLIF(current_setting('app.tenant_id', true), '') IS DISTINCT FROM p_tenant::text THEN
        RAISE EXCEPTION 'bookwarden_wrong_tenant';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM tenants
        WHERE tenant_id = p_tenant AND erasing_since_us IS NOT NULL AND NOT legal_hold
    ) THEN
        RAISE EXCEPTION 'bookwarden_not_erasing';
    END IF;
    DELETE FROM audit_log WHERE ctid IN (
        SELECT ctid FROM audit_log WHERE tenant_id = p_tenant LIMIT p_limit
    );
    GET DIAGNOSTICS v_removed = ROW_COUNT;
    IF v_removed = 0 THEN
        DELETE FROM audit_heads WHERE tenant_id = p_tenant;
        GET DIAGNOSTICS v_removed = ROW_COUNT;
    END IF;
    RETURN v_removed;
END
$$;
SELECT set_config('search_path', regexp_replace(current_setting('search_path'), ', pg_temp$', ''), false);
REVOKE ALL ON FUNCTION bookwarden_erase_audit FROM PUBLIC;
