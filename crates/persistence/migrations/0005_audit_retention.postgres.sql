-- Retention purging: where the purge stopped is recorded with the time of
-- the newest entry it removed and a keyed digest under the tenant's data
-- key, so an anchor moved by anyone without that key is detected.
ALTER TABLE audit_heads ADD COLUMN anchor_at_us bigint;
ALTER TABLE audit_heads ADD COLUMN anchor_mac bytea;

-- The application role may neither delete entries nor move the anchor.
-- It purges through this function, which runs as the schema owner, acts
-- only on the caller's tenant (set for its transaction), removes only the
-- entries after the anchor up to p_through, refuses any younger than the
-- shortest retention (30 days) whatever the caller says, and moves the
-- anchor to the last one removed.
CREATE FUNCTION bookwarden_purge_audit(
    p_tenant uuid, p_through bigint, p_anchor_at bigint, p_mac bytea, p_now bigint
) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_anchor bigint;
    v_hash bytea;
    v_removed bigint;
BEGIN
    IF NULLIF(current_setting('app.tenant_id', true), '') IS DISTINCT FROM p_tenant::text THEN
        RAISE EXCEPTION 'bookwarden_wrong_tenant';
    END IF;
    IF p_now > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint + 300000000 THEN
        RAISE EXCEPTION 'bookwarden_purge_from_the_future';
    END IF;
    SELECT anchor_seq INTO v_anchor FROM audit_heads WHERE tenant_id = p_tenant FOR UPDATE;
    IF v_anchor IS NULL OR p_through <= v_anchor THEN
        RAISE EXCEPTION 'bookwarden_purge_nothing';
    END IF;
    IF EXISTS (
        SELECT 1 FROM audit_log
        WHERE tenant_id = p_tenant AND seq > v_anchor AND seq <= p_through
          AND at_us > p_now - 30::bigint * 86400 * 1000000
    ) THEN
        RAISE EXCEPTION 'bookwarden_purge_too_young';
    END IF;
    SELECT hash INTO v_hash FROM audit_log WHERE tenant_id = p_tenant AND seq = p_through;
    IF v_hash IS NULL THEN
        RAISE EXCEPTION 'bookwarden_purge_nothing';
    END IF;
    DELETE FROM audit_log WHERE tenant_id = p_tenant AND seq > v_anchor AND seq <= p_through;
    GET DIAGNOSTICS v_removed = ROW_COUNT;
    UPDATE audit_heads
       SET anchor_seq = p_through, anchor_hash = v_hash, anchor_at_us = p_anchor_at,
           anchor_mac = p_mac
     WHERE tenant_id = p_tenant;
    RETURN v_removed;
END
$$;
REVOKE ALL ON FUNCTION bookwarden_purge_audit FROM PUBLIC;
