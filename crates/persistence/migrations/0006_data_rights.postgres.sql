-- Data rights. A legal hold on a tenant stops every erasure of its data
-- and the audit retention purge until it is lifted. An erased customer's
-- row stays as a tombstone that holds nothing personal (its bookings keep
-- their times, so history and capacity stay true); it is never read as a
-- customer again.
ALTER TABLE tenants ADD COLUMN legal_hold boolean NOT NULL DEFAULT false;
ALTER TABLE customers ADD COLUMN erased_at_us bigint;

-- No booking is ever added for an erased customer (a booking that looked
-- its customer up before the erasure and is stored after it fails here),
-- so no intake answer or manage link outlives an erasure. The erasure
-- locks the customer's row FOR UPDATE first: it waits for bookings already
-- holding their foreign-key lock on the row (and then anonymizes them),
-- and a later booking's foreign-key check waits for the erasure. This
-- check runs after that foreign-key check (triggers fire in name order,
-- and the foreign key's own "RI_ConstraintTrigger_..." sorts first) and
-- reads with a snapshot of its own, so it sees an erasure it waited for.
-- It takes no lock: concurrent bookings of one customer do not queue on it.
CREATE FUNCTION bookwarden_customer_live() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM customers
        WHERE tenant_id = NEW.tenant_id AND customer_id = NEW.customer_id
          AND erased_at_us IS NOT NULL
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = 'bookwarden_customer_erased';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER zz_bookings_customer_live AFTER INSERT ON bookings
FOR EACH ROW EXECUTE FUNCTION bookwarden_customer_live();

-- Where each account has signed in from: keyed digests (under the
-- tenant's data key) of its devices and networks, never the values. A
-- sign-in from one not on record leaves a notice for the account's holder.
CREATE TABLE sign_in_sources (
    tenant_id     uuid   NOT NULL,
    user_id       uuid   NOT NULL,
    digest        bytea  NOT NULL,
    first_seen_us bigint NOT NULL,
    last_seen_us  bigint NOT NULL,
    PRIMARY KEY (tenant_id, user_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

CREATE TABLE sign_in_notices (
    tenant_id   uuid    NOT NULL,
    notice_id   uuid    NOT NULL,
    user_id     uuid    NOT NULL,
    at_us       bigint  NOT NULL,
    address     text,
    user_agent  text,
    new_device  boolean NOT NULL,
    new_network boolean NOT NULL,
    PRIMARY KEY (tenant_id, notice_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

CREATE INDEX sign_in_notices_by_user ON sign_in_notices (tenant_id, user_id, at_us);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sign_in_sources', 'sign_in_notices'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t
        );
    END LOOP;
END
$$;

-- A sign-in from a new device or network, and a request for an id the
-- business does not have, are notable (90-day) entries.
CREATE OR REPLACE FUNCTION bookwarden_audit_retention_days(p_kind text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN p_kind IN ('login.succeeded', 'logout', 'session.revoked') THEN 30
        WHEN p_kind IN ('login.failed', 'login.new_source', 'api_key.created', 'api_key.revoked',
                        'user.invited', 'user.invitation_withdrawn', 'user.joined',
                        'tenant.created', 'tenant.plan_changed', 'calendar.connected',
                        'calendar.disconnected', 'calendar.mode_changed',
                        'calendar.fail_policy_changed', 'audit.purged',
                        'access.unknown_id') THEN 90
        ELSE 180
    END::bigint
$$;
