-- Retention purging: where the purge stopped is recorded with the time of
-- the newest entry it removed and a keyed digest under the tenant's data
-- key, so an anchor moved by anyone without that key is detected.
ALTER TABLE audit_heads ADD COLUMN anchor_at_us bigint;
ALTER TABLE audit_heads ADD COLUMN anchor_mac bytea;

-- How long an entry of a kind is kept, in days: the domain's retention by
-- severity (a test compares these lists with it). A kind not named here is
-- kept as long as the longest retention.
CREATE FUNCTION bookwarden_audit_retention_days(p_kind text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN p_kind IN ('login.succeeded', 'logout', 'session.revoked') THEN 30
        WHEN p_kind IN ('login.failed', 'api_key.created', 'api_key.revoked', 'user.invited',
                        'user.invitation_withdrawn', 'user.joined', 'tenant.created',
                        'tenant.plan_changed', 'calendar.connected', 'calendar.disconnected',
                        'calendar.mode_changed', 'calendar.fail_policy_changed',
                        'audit.purged') THEN 90
        ELSE 180
    END::bigint
$$;

-- The application role may neither delete entries nor move the anchor.
-- It purges through this function, which runs as the schema owner and
-- removes the entries after the anchor up to p_through only when each has
-- outlived its kind's retention by the database's own clock, then moves the
-- anchor to the last one removed (its hash and time read from the row).
-- STRICT: a NULL argument purges nothing. pg_temp is searched last, so a
-- temporary table of the caller's cannot stand in for the store's.
SELECT set_config('search_path', current_setting('search_path') || ', pg_temp', false);
CREATE FUNCTION bookwarden_purge_audit(p_tenant uuid, p_through bigint, p_mac bytea)
RETURNS bigint LANGUAGE plpgsql STRICT SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_now bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_anchor bigint;
    v_hash bytea;
    v_at bigint;
    v_removed bigint;
BEGIN
    IF NULLIF(current_setting('app.tenant_id', true), '') IS DISTINCT FROM p_tenant::text THEN
        RAISE EXCEPTION 'bookwarden_wrong_tenant';
    END IF;
    SELECT anchor_seq INTO v_anchor FROM audit_heads WHERE tenant_id = p_tenant FOR UPDATE;
    IF v_anchor IS NULL OR p_through <= v_anchor THEN
        RAISE EXCEPTION 'bookwarden_purge_nothing';
    END IF;
    IF EXISTS (
        SELECT 1 FROM audit_log
        WHERE tenant_id = p_tenant AND seq > v_anchor AND seq <= p_through
          AND at_us > v_now - bookwarden_audit_retention_days(kind) * 86400 * 1000000
    ) THEN
        RAISE EXCEPTION 'bookwarden_purge_too_young';
    END IF;
    SELECT hash, at_us INTO v_hash, v_at
      FROM audit_log WHERE tenant_id = p_tenant AND seq = p_through;
    IF v_hash IS NULL THEN
        RAISE EXCEPTION 'bookwarden_purge_nothing';
    END IF;
    DELETE FROM audit_log WHERE tenant_id = p_tenant AND seq > v_anchor AND seq <= p_through;
    GET DIAGNOSTICS v_removed = ROW_COUNT;
    UPDATE audit_heads
       SET anchor_seq = p_through, anchor_hash = v_hash, anchor_at_us = v_at, anchor_mac = p_mac
     WHERE tenant_id = p_tenant;
    RETURN v_removed;
END
$$;
SELECT set_config('search_path', regexp_replace(current_setting('search_path'), ', pg_temp$', ''), false);
REVOKE ALL ON FUNCTION bookwarden_purge_audit FROM PUBLIC;
