-- Bookwarden schema, version 1, PostgreSQL dialect. Kept column for column
-- in step with 0001_schema.sqlite.sql; a test compares the two catalogs.
--
-- Every tenant-owned table carries tenant_id, has (tenant_id, <id>) as its
-- key, and refers to other rows by composite (tenant_id, <id>) foreign keys,
-- so no row can point into another tenant. Row-level security (at the end)
-- is the second wall. Instants are Unix microseconds.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE tenant_directory (
    tenant_id     uuid   NOT NULL PRIMARY KEY,
    slug          text   NOT NULL UNIQUE,
    region        text   NOT NULL,
    created_at_us bigint NOT NULL
);

CREATE TABLE tenants (
    tenant_id     uuid   NOT NULL PRIMARY KEY,
    name          text   NOT NULL,
    slug          text   NOT NULL,
    plan          text   NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    status        text   NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    time_zone     text   NOT NULL,
    region        text   NOT NULL,
    created_at_us bigint NOT NULL
);

CREATE TABLE tenant_keys (
    tenant_id      uuid    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    master_version integer NOT NULL,
    wrapped        bytea   NOT NULL,
    updated_at_us  bigint  NOT NULL
);

CREATE TABLE users (
    tenant_id        uuid   NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id          uuid   NOT NULL,
    email            text   NOT NULL,
    name             text   NOT NULL,
    role             text   NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
    status           text   NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash    text,
    totp_seed        bytea,
    totp_last_step   bigint,
    totp_pending     bytea,
    reset_required   boolean NOT NULL DEFAULT false,
    reset_digest     bytea,
    reset_expires_us bigint,
    created_at_us    bigint NOT NULL,
    last_login_at_us bigint,
    PRIMARY KEY (tenant_id, user_id),
    UNIQUE (tenant_id, email),
    UNIQUE (tenant_id, reset_digest),
    CHECK ((reset_digest IS NULL) = (reset_expires_us IS NULL))
);

CREATE TABLE staff (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    staff_id  uuid NOT NULL,
    name      text NOT NULL,
    user_id   uuid,
    PRIMARY KEY (tenant_id, staff_id),
    UNIQUE (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id)
);

CREATE TABLE customers (
    tenant_id     uuid   NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    customer_id   uuid   NOT NULL,
    email         text   NOT NULL,
    name          text   NOT NULL,
    phone         text,
    created_at_us bigint NOT NULL,
    PRIMARY KEY (tenant_id, customer_id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE services (
    tenant_id         uuid    NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    service_id        uuid    NOT NULL,
    name              text    NOT NULL,
    duration_min      bigint  NOT NULL,
    buffer_before_min bigint  NOT NULL,
    buffer_after_min  bigint  NOT NULL,
    notice_min        bigint  NOT NULL,
    horizon_days      bigint  NOT NULL,
    step_min          bigint  NOT NULL,
    capacity          bigint  NOT NULL CHECK (capacity >= 1),
    price_minor       bigint,
    currency          text,
    public            boolean NOT NULL,
    intake            text    NOT NULL,
    PRIMARY KEY (tenant_id, service_id)
);

CREATE TABLE service_staff (
    tenant_id  uuid   NOT NULL,
    service_id uuid   NOT NULL,
    staff_id   uuid   NOT NULL,
    position   bigint NOT NULL,
    PRIMARY KEY (tenant_id, service_id, staff_id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, service_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
);

CREATE TABLE schedules (
    tenant_id   uuid NOT NULL,
    schedule_id uuid NOT NULL,
    staff_id    uuid NOT NULL,
    time_zone   text NOT NULL,
    weekly      text NOT NULL,
    overrides   text NOT NULL,
    time_off    text NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id),
    UNIQUE (tenant_id, staff_id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
);

-- A hold is the time a staff member is taken: one per booked slot, shared by
-- the bookings of a group service at that slot. The exclusion constraint
-- lets no two holds of one staff member overlap, whatever the concurrency;
-- seats never exceed capacity (CHECK).
CREATE TABLE holds (
    tenant_id     uuid   NOT NULL,
    hold_id       uuid   NOT NULL,
    staff_id      uuid   NOT NULL,
    service_id    uuid   NOT NULL,
    starts_at_us  bigint NOT NULL,
    ends_at_us    bigint NOT NULL,
    held_from_us  bigint NOT NULL,
    held_until_us bigint NOT NULL,
    capacity      bigint NOT NULL,
    seats_taken   bigint NOT NULL,
    PRIMARY KEY (tenant_id, hold_id),
    CHECK (starts_at_us < ends_at_us AND held_from_us <= starts_at_us AND ends_at_us <= held_until_us),
    CHECK (held_until_us - held_from_us <= 172800000000),
    CHECK (seats_taken >= 1 AND seats_taken <= capacity),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, service_id),
    CONSTRAINT holds_no_overlap EXCLUDE USING gist (
        tenant_id WITH =,
        staff_id WITH =,
        int8range(held_from_us, held_until_us) WITH &&
    )
);

-- Finds a slot's hold (group seats).
CREATE INDEX holds_by_slot ON holds (tenant_id, staff_id, starts_at_us);

CREATE TABLE bookings (
    tenant_id       uuid   NOT NULL,
    booking_id      uuid   NOT NULL,
    hold_id         uuid,
    service_id      uuid   NOT NULL,
    staff_id        uuid   NOT NULL,
    customer_id     uuid   NOT NULL,
    starts_at_us    bigint NOT NULL,
    ends_at_us      bigint NOT NULL,
    seats           bigint NOT NULL CHECK (seats >= 1),
    status          text   NOT NULL CHECK (status IN ('requested', 'confirmed', 'cancelled')),
    answers         text   NOT NULL,
    created_at_us   bigint NOT NULL,
    confirmed_at_us bigint,
    cancelled_at_us bigint,
    cancelled_by    text CHECK (cancelled_by IN ('customer', 'staff', 'system')),
    reschedules     bigint NOT NULL,
    manage_digest   bytea,
    PRIMARY KEY (tenant_id, booking_id),
    UNIQUE (tenant_id, manage_digest),
    CHECK ((status = 'cancelled') = (hold_id IS NULL)),
    FOREIGN KEY (tenant_id, hold_id) REFERENCES holds (tenant_id, hold_id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, service_id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id)
);

CREATE INDEX bookings_by_time ON bookings (tenant_id, starts_at_us);

CREATE TABLE idempotency_keys (
    tenant_id      uuid   NOT NULL,
    idem_key       text   NOT NULL,
    request_digest bytea  NOT NULL,
    booking_id     uuid   NOT NULL,
    created_at_us  bigint NOT NULL,
    PRIMARY KEY (tenant_id, idem_key),
    -- Checked at commit: the one-statement insert records the key first,
    -- so a retried request is recognised before its time is found taken.
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, booking_id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED
);

-- The append-only audit chain, hash-chained per tenant: each entry's hash
-- covers the previous hash and a canonical encoding of the entry. The head
-- (newest seq and hash) is kept apart, so a truncated tail is detected;
-- the anchor is where retention purging stopped, so what remains still
-- verifies. The application role may only read and insert entries.
CREATE TABLE audit_log (
    tenant_id uuid   NOT NULL REFERENCES tenants (tenant_id),
    seq       bigint NOT NULL,
    at_us     bigint NOT NULL,
    kind      text   NOT NULL,
    actor     text,
    subject   text,
    detail    text   NOT NULL,
    prev_hash bytea  NOT NULL,
    hash      bytea  NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bookwarden_audit_append_only';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE audit_heads (
    tenant_id   uuid   NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    seq         bigint NOT NULL,
    hash        bytea  NOT NULL,
    anchor_seq  bigint NOT NULL,
    anchor_hash bytea  NOT NULL
);

-- Credentials. Token digests are looked up before the tenant is known, so
-- the directory maps digest -> tenant (a digest is useless without its
-- token); the details stay in the tenant's own tables.
CREATE TABLE credential_directory (
    digest    bytea NOT NULL PRIMARY KEY,
    tenant_id uuid  NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('api_key', 'session', 'invitation', 'password_reset', 'booking_manage'))
);

CREATE TABLE recovery_codes (
    tenant_id uuid  NOT NULL,
    user_id   uuid  NOT NULL,
    digest    bytea NOT NULL,
    PRIMARY KEY (tenant_id, user_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    tenant_id       uuid    NOT NULL,
    api_key_id      uuid    NOT NULL,
    name            text    NOT NULL,
    digest          bytea   NOT NULL,
    scopes          text    NOT NULL,
    created_by      uuid    NOT NULL,
    created_at_us   bigint  NOT NULL,
    last_used_at_us bigint,
    revoked_at_us   bigint,
    PRIMARY KEY (tenant_id, api_key_id),
    UNIQUE (tenant_id, digest),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, user_id)
);

CREATE TABLE sessions (
    tenant_id       uuid    NOT NULL,
    session_id      uuid    NOT NULL,
    user_id         uuid    NOT NULL,
    digest          bytea   NOT NULL,
    created_at_us   bigint  NOT NULL,
    last_seen_at_us bigint  NOT NULL,
    expires_at_us   bigint  NOT NULL,
    revoked_at_us   bigint,
    PRIMARY KEY (tenant_id, session_id),
    UNIQUE (tenant_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- Failed sign-ins per account (keyed by a digest of the email, known or
-- not, so a lockout answers alike for both).
CREATE TABLE login_throttle (
    tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    account_digest  bytea NOT NULL,
    failures        bigint NOT NULL CHECK (failures >= 0),
    window_start_us bigint NOT NULL,
    locked_until_us bigint,
    PRIMARY KEY (tenant_id, account_digest)
);

-- Single-use invitations to join the staff; only the token's digest is kept.
CREATE TABLE invitations (
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    invitation_id  uuid NOT NULL,
    digest         bytea NOT NULL,
    email          text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'staff')),
    invited_by     uuid NOT NULL,
    created_at_us  bigint NOT NULL,
    expires_at_us  bigint NOT NULL,
    accepted_at_us bigint,
    PRIMARY KEY (tenant_id, invitation_id),
    UNIQUE (tenant_id, digest),
    CHECK (created_at_us < expires_at_us),
    FOREIGN KEY (tenant_id, invited_by) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- External calendars: tokens and app passwords only as vault-sealed bytes;
-- imported busy blocks keep only subject (none in busy-only mode), start,
-- end and the all-day flag.
CREATE TABLE calendar_connections (
    tenant_id         uuid    NOT NULL,
    connection_id     uuid    NOT NULL,
    staff_id          uuid    NOT NULL,
    provider          text    NOT NULL CHECK (provider IN ('google', 'microsoft', 'caldav', 'ics')),
    mode              text    NOT NULL CHECK (mode IN ('busy_only', 'with_subject')),
    status            text    NOT NULL CHECK (status IN ('healthy', 'failing', 'revoked')),
    sealed_secret     bytea,
    sync_cursor       text,
    last_synced_at_us bigint,
    created_at_us     bigint  NOT NULL,
    PRIMARY KEY (tenant_id, connection_id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
);

CREATE TABLE busy_blocks (
    tenant_id     uuid    NOT NULL,
    busy_block_id uuid    NOT NULL,
    connection_id uuid    NOT NULL,
    staff_id      uuid    NOT NULL,
    subject       text,
    starts_at_us  bigint  NOT NULL,
    ends_at_us    bigint  NOT NULL,
    all_day       boolean NOT NULL,
    PRIMARY KEY (tenant_id, busy_block_id),
    CHECK (starts_at_us < ends_at_us),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES calendar_connections (tenant_id, connection_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
);

CREATE INDEX busy_blocks_by_staff_time ON busy_blocks (tenant_id, staff_id, starts_at_us);

-- One-statement booking creation: one call takes the staff member's time
-- (a new hold, or a seat on the group slot's hold), stores the booking and
-- records its idempotency key, all or nothing, in one round trip. It sets
-- the tenant for row-level security itself (for this transaction only) and
-- refuses to run under a scope of another tenant. It runs with the
-- caller's rights, so row-level security applies to every row it touches.
CREATE FUNCTION bookwarden_create_booking(
    p_tenant uuid, p_booking uuid, p_hold uuid, p_service uuid, p_staff uuid,
    p_customer uuid, p_starts bigint, p_ends bigint, p_from bigint, p_until bigint,
    p_capacity bigint, p_seats bigint, p_status text, p_answers text, p_created bigint,
    p_confirmed bigint, p_reschedules bigint, p_manage bytea, p_idem_key text,
    p_idem_digest bytea
) RETURNS void LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    v_hold uuid;
BEGIN
    IF coalesce(NULLIF(current_setting('app.tenant_id', true), ''), p_tenant::text) <> p_tenant::text THEN
        RAISE EXCEPTION 'bookwarden_wrong_tenant';
    END IF;
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    -- The key first: a retried request fails here, on the key, rather than
    -- on its own booking's time.
    IF p_idem_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant_id, idem_key, request_digest, booking_id, created_at_us)
        VALUES (p_tenant, p_idem_key, p_idem_digest, p_booking, p_created);
    END IF;
    IF p_capacity > 1 THEN
        UPDATE holds SET seats_taken = seats_taken + p_seats
        WHERE tenant_id = p_tenant AND staff_id = p_staff AND service_id = p_service
          AND starts_at_us = p_starts AND ends_at_us = p_ends
        RETURNING hold_id INTO v_hold;
        IF v_hold IS NULL THEN
            BEGIN
                INSERT INTO holds (tenant_id, hold_id, staff_id, service_id, starts_at_us,
                                   ends_at_us, held_from_us, held_until_us, capacity, seats_taken)
                VALUES (p_tenant, p_hold, p_staff, p_service, p_starts, p_ends, p_from, p_until,
                        p_capacity, p_seats);
                v_hold := p_hold;
            EXCEPTION WHEN exclusion_violation THEN
                -- Another request made this slot's hold a moment ago: join it.
                UPDATE holds SET seats_taken = seats_taken + p_seats
                WHERE tenant_id = p_tenant AND staff_id = p_staff AND service_id = p_service
                  AND starts_at_us = p_starts AND ends_at_us = p_ends
                RETURNING hold_id INTO v_hold;
                IF v_hold IS NULL THEN
                    RAISE EXCEPTION USING ERRCODE = 'exclusion_violation',
                        MESSAGE = 'bookwarden_slot_taken';
                END IF;
            END;
        END IF;
    ELSE
        INSERT INTO holds (tenant_id, hold_id, staff_id, service_id, starts_at_us, ends_at_us,
                           held_from_us, held_until_us, capacity, seats_taken)
        VALUES (p_tenant, p_hold, p_staff, p_service, p_starts, p_ends, p_from, p_until,
                p_capacity, p_seats);
        v_hold := p_hold;
    END IF;
    INSERT INTO bookings (tenant_id, booking_id, hold_id, service_id, staff_id, customer_id,
                          starts_at_us, ends_at_us, seats, status, answers, created_at_us,
                          confirmed_at_us, cancelled_at_us, cancelled_by, reschedules, manage_digest)
    VALUES (p_tenant, p_booking, v_hold, p_service, p_staff, p_customer, p_starts, p_ends,
            p_seats, p_status, p_answers, p_created, p_confirmed, NULL, NULL, p_reschedules,
            p_manage);
END
$$;

-- Row-level security on every table with tenant_id except the directory
-- (slug -> tenant and region, looked up before a tenant is known). FORCE
-- applies it to the table owner too; the tenant comes from a
-- transaction-local setting, so a pooled connection never carries it over,
-- and with no tenant set a query sees nothing.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'tenants', 'tenant_keys', 'users', 'staff', 'customers', 'services',
        'service_staff', 'schedules', 'holds', 'bookings', 'idempotency_keys',
        'audit_log', 'audit_heads', 'recovery_codes', 'api_keys', 'sessions',
        'login_throttle', 'invitations', 'calendar_connections', 'busy_blocks'
    ] LOOP
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
