-- Bookwarden schema, version 1, SQLite dialect. Kept column for column in
-- step with 0001_schema.postgres.sql; a test compares the two catalogs.
--
-- Every tenant-owned table carries tenant_id, has (tenant_id, <id>) as its
-- key, and refers to other rows by composite (tenant_id, <id>) foreign keys,
-- so no row can point into another tenant. Instants are Unix microseconds.

CREATE TABLE tenant_directory (
    tenant_id    BLOB    NOT NULL PRIMARY KEY,
    slug         TEXT    NOT NULL UNIQUE,
    region       TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL
) STRICT;

CREATE TABLE tenants (
    tenant_id     BLOB    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    slug          TEXT    NOT NULL,
    plan          TEXT    NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    time_zone     TEXT    NOT NULL,
    region        TEXT    NOT NULL,
    created_at_us INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_keys (
    tenant_id      BLOB    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    master_version INTEGER NOT NULL,
    wrapped        BLOB    NOT NULL,
    updated_at_us  INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    tenant_id        BLOB    NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id          BLOB    NOT NULL,
    email            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'staff')),
    status           TEXT    NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash    TEXT,
    totp_seed        BLOB,
    totp_last_step   INTEGER,
    totp_pending     BLOB,
    reset_required   INTEGER NOT NULL DEFAULT 0 CHECK (reset_required IN (0, 1)),
    reset_digest     BLOB,
    reset_expires_us INTEGER,
    created_at_us    INTEGER NOT NULL,
    last_login_at_us INTEGER,
    PRIMARY KEY (tenant_id, user_id),
    UNIQUE (tenant_id, email),
    UNIQUE (tenant_id, reset_digest),
    CHECK ((reset_digest IS NULL) = (reset_expires_us IS NULL))
) STRICT;

CREATE TABLE staff (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    staff_id  BLOB NOT NULL,
    name      TEXT NOT NULL,
    user_id   BLOB,
    PRIMARY KEY (tenant_id, staff_id),
    UNIQUE (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id)
) STRICT;

CREATE TABLE customers (
    tenant_id     BLOB    NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    customer_id   BLOB    NOT NULL,
    email         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    phone         TEXT,
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, customer_id),
    UNIQUE (tenant_id, email)
) STRICT;

CREATE TABLE services (
    tenant_id         BLOB    NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    service_id        BLOB    NOT NULL,
    name              TEXT    NOT NULL,
    duration_min      INTEGER NOT NULL,
    buffer_before_min INTEGER NOT NULL,
    buffer_after_min  INTEGER NOT NULL,
    notice_min        INTEGER NOT NULL,
    horizon_days      INTEGER NOT NULL,
    step_min          INTEGER NOT NULL,
    capacity          INTEGER NOT NULL CHECK (capacity >= 1),
    price_minor       INTEGER,
    currency          TEXT,
    public            INTEGER NOT NULL CHECK (public IN (0, 1)),
    intake            TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, service_id)
) STRICT;

CREATE TABLE service_staff (
    tenant_id  BLOB NOT NULL,
    service_id BLOB NOT NULL,
    staff_id   BLOB NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, service_id, staff_id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, service_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE schedules (
    tenant_id   BLOB NOT NULL,
    schedule_id BLOB NOT NULL,
    staff_id    BLOB NOT NULL,
    time_zone   TEXT NOT NULL,
    weekly      TEXT NOT NULL,
    overrides   TEXT NOT NULL,
    time_off    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id),
    UNIQUE (tenant_id, staff_id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
) STRICT;

-- A hold is the time a staff member is taken: one per booked slot, shared by
-- the bookings of a group service at that slot. Two holds of one staff
-- member never overlap (trigger below; an exclusion constraint on
-- PostgreSQL); seats never exceed capacity (CHECK).
CREATE TABLE holds (
    tenant_id     BLOB    NOT NULL,
    hold_id       BLOB    NOT NULL,
    staff_id      BLOB    NOT NULL,
    service_id    BLOB    NOT NULL,
    starts_at_us  INTEGER NOT NULL,
    ends_at_us    INTEGER NOT NULL,
    held_from_us  INTEGER NOT NULL,
    held_until_us INTEGER NOT NULL,
    capacity      INTEGER NOT NULL,
    seats_taken   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, hold_id),
    CHECK (starts_at_us < ends_at_us AND held_from_us <= starts_at_us AND ends_at_us <= held_until_us),
    -- No hold lasts more than 48 hours (a day-long service with 12-hour
    -- buffers each side), so the overlap check below only looks back that far.
    CHECK (held_until_us - held_from_us <= 172800000000),
    CHECK (seats_taken >= 1 AND seats_taken <= capacity),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, service_id)
) STRICT;

CREATE INDEX holds_by_staff_time ON holds (tenant_id, staff_id, held_from_us);
-- Finds a slot's hold (group seats, the one-statement insert).
CREATE INDEX holds_by_slot ON holds (tenant_id, staff_id, starts_at_us);

CREATE TRIGGER holds_no_overlap_insert BEFORE INSERT ON holds
WHEN EXISTS (
    SELECT 1 FROM holds h
    WHERE h.tenant_id = NEW.tenant_id AND h.staff_id = NEW.staff_id
      AND h.held_from_us > NEW.held_from_us - 172800000000
      AND h.held_from_us < NEW.held_until_us AND NEW.held_from_us < h.held_until_us
)
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_slot_taken');
END;

CREATE TRIGGER holds_no_overlap_update BEFORE UPDATE OF staff_id, held_from_us, held_until_us ON holds
WHEN EXISTS (
    SELECT 1 FROM holds h
    WHERE h.tenant_id = NEW.tenant_id AND h.staff_id = NEW.staff_id AND h.hold_id <> NEW.hold_id
      AND h.held_from_us > NEW.held_from_us - 172800000000
      AND h.held_from_us < NEW.held_until_us AND NEW.held_from_us < h.held_until_us
)
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_slot_taken');
END;

CREATE TABLE bookings (
    tenant_id       BLOB    NOT NULL,
    booking_id      BLOB    NOT NULL,
    hold_id         BLOB,
    service_id      BLOB    NOT NULL,
    staff_id        BLOB    NOT NULL,
    customer_id     BLOB    NOT NULL,
    starts_at_us    INTEGER NOT NULL,
    ends_at_us      INTEGER NOT NULL,
    seats           INTEGER NOT NULL CHECK (seats >= 1),
    status          TEXT    NOT NULL CHECK (status IN ('requested', 'confirmed', 'cancelled')),
    answers         TEXT    NOT NULL,
    created_at_us   INTEGER NOT NULL,
    confirmed_at_us INTEGER,
    cancelled_at_us INTEGER,
    cancelled_by    TEXT CHECK (cancelled_by IN ('customer', 'staff', 'system')),
    reschedules     INTEGER NOT NULL,
    manage_digest   BLOB,
    PRIMARY KEY (tenant_id, booking_id),
    UNIQUE (tenant_id, manage_digest),
    CHECK ((status = 'cancelled') = (hold_id IS NULL)),
    FOREIGN KEY (tenant_id, hold_id) REFERENCES holds (tenant_id, hold_id),
    FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, service_id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id)
) STRICT;

CREATE INDEX bookings_by_time ON bookings (tenant_id, starts_at_us);

CREATE TABLE idempotency_keys (
    tenant_id      BLOB    NOT NULL,
    idem_key       TEXT    NOT NULL,
    request_digest BLOB    NOT NULL,
    booking_id     BLOB    NOT NULL,
    created_at_us  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, idem_key),
    -- Checked at commit: the one-statement insert records the key first,
    -- so a retried request is recognised before its time is found taken.
    FOREIGN KEY (tenant_id, booking_id) REFERENCES bookings (tenant_id, booking_id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED
) STRICT;

-- The append-only audit chain, hash-chained per tenant: each entry's hash
-- covers the previous hash and a canonical encoding of the entry. The head
-- (newest seq and hash) is kept apart, so a truncated tail is detected;
-- the anchor is where retention purging stopped, so what remains still
-- verifies. Entries are never updated.
CREATE TABLE audit_log (
    tenant_id BLOB    NOT NULL REFERENCES tenants (tenant_id),
    seq       INTEGER NOT NULL,
    at_us     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    actor     TEXT,
    subject   TEXT,
    detail    TEXT    NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'bookwarden_audit_append_only');
END;

CREATE TABLE audit_heads (
    tenant_id   BLOB    NOT NULL PRIMARY KEY REFERENCES tenants (tenant_id),
    seq         INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    anchor_seq  INTEGER NOT NULL,
    anchor_hash BLOB    NOT NULL
) STRICT;

-- Credentials. Token digests are looked up before the tenant is known, so
-- the directory maps digest -> tenant (a digest is useless without its
-- token); the details stay in the tenant's own tables.
CREATE TABLE credential_directory (
    digest    BLOB NOT NULL PRIMARY KEY,
    tenant_id BLOB NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('api_key', 'session', 'invitation', 'password_reset', 'booking_manage'))
) STRICT;

CREATE TABLE recovery_codes (
    tenant_id BLOB NOT NULL,
    user_id   BLOB NOT NULL,
    digest    BLOB NOT NULL,
    PRIMARY KEY (tenant_id, user_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE api_keys (
    tenant_id       BLOB    NOT NULL,
    api_key_id      BLOB    NOT NULL,
    name            TEXT    NOT NULL,
    digest          BLOB    NOT NULL,
    scopes          TEXT    NOT NULL,
    created_by      BLOB    NOT NULL,
    created_at_us   INTEGER NOT NULL,
    last_used_at_us INTEGER,
    revoked_at_us   INTEGER,
    PRIMARY KEY (tenant_id, api_key_id),
    UNIQUE (tenant_id, digest),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, user_id)
) STRICT;

CREATE TABLE sessions (
    tenant_id       BLOB    NOT NULL,
    session_id      BLOB    NOT NULL,
    user_id         BLOB    NOT NULL,
    digest          BLOB    NOT NULL,
    created_at_us   INTEGER NOT NULL,
    last_seen_at_us INTEGER NOT NULL,
    expires_at_us   INTEGER NOT NULL,
    revoked_at_us   INTEGER,
    PRIMARY KEY (tenant_id, session_id),
    UNIQUE (tenant_id, digest),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
) STRICT;

-- Failed sign-ins per account (keyed by a digest of the email, known or
-- not, so a lockout answers alike for both).
CREATE TABLE login_throttle (
    tenant_id       BLOB NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    account_digest  BLOB NOT NULL,
    failures        INTEGER NOT NULL CHECK (failures >= 0),
    window_start_us INTEGER NOT NULL,
    locked_until_us INTEGER,
    PRIMARY KEY (tenant_id, account_digest)
) STRICT;

-- Single-use invitations to join the staff; only the token's digest is kept.
CREATE TABLE invitations (
    tenant_id      BLOB NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    invitation_id  BLOB NOT NULL,
    digest         BLOB NOT NULL,
    email          TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'staff')),
    invited_by     BLOB NOT NULL,
    created_at_us  INTEGER NOT NULL,
    expires_at_us  INTEGER NOT NULL,
    accepted_at_us INTEGER,
    PRIMARY KEY (tenant_id, invitation_id),
    UNIQUE (tenant_id, digest),
    CHECK (created_at_us < expires_at_us),
    FOREIGN KEY (tenant_id, invited_by) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
) STRICT;

-- External calendars: tokens and app passwords only as vault-sealed bytes;
-- imported busy blocks keep only subject (none in busy-only mode), start,
-- end and the all-day flag.
CREATE TABLE calendar_connections (
    tenant_id         BLOB    NOT NULL,
    connection_id     BLOB    NOT NULL,
    staff_id          BLOB    NOT NULL,
    provider          TEXT    NOT NULL CHECK (provider IN ('google', 'microsoft', 'caldav', 'ics')),
    mode              TEXT    NOT NULL CHECK (mode IN ('busy_only', 'with_subject')),
    status            TEXT    NOT NULL CHECK (status IN ('healthy', 'failing', 'revoked')),
    sealed_secret     BLOB,
    sync_cursor       TEXT,
    last_synced_at_us INTEGER,
    created_at_us     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, connection_id),
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE busy_blocks (
    tenant_id     BLOB    NOT NULL,
    busy_block_id BLOB    NOT NULL,
    connection_id BLOB    NOT NULL,
    staff_id      BLOB    NOT NULL,
    subject       TEXT,
    starts_at_us  INTEGER NOT NULL,
    ends_at_us    INTEGER NOT NULL,
    all_day       INTEGER NOT NULL CHECK (all_day IN (0, 1)),
    PRIMARY KEY (tenant_id, busy_block_id),
    CHECK (starts_at_us < ends_at_us),
    FOREIGN KEY (tenant_id, connection_id) REFERENCES calendar_connections (tenant_id, connection_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, staff_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX busy_blocks_by_staff_time ON busy_blocks (tenant_id, staff_id, starts_at_us);

-- One-statement booking creation. Inserting a row into this view takes the
-- staff member's time (a new hold, or a seat on the group slot's hold),
-- stores the booking and records its idempotency key: all or nothing, with
-- the same overlap trigger as any hold, in one statement, so a booking
-- costs one trip to the database.
CREATE VIEW booking_requests AS SELECT
    NULL AS tenant_id, NULL AS booking_id, NULL AS hold_id, NULL AS service_id,
    NULL AS staff_id, NULL AS customer_id, NULL AS starts_at_us, NULL AS ends_at_us,
    NULL AS held_from_us, NULL AS held_until_us, NULL AS capacity, NULL AS seats,
    NULL AS status, NULL AS answers, NULL AS created_at_us, NULL AS confirmed_at_us,
    NULL AS reschedules, NULL AS manage_digest, NULL AS idem_key, NULL AS idem_digest
WHERE 0;

CREATE TRIGGER booking_requests_insert INSTEAD OF INSERT ON booking_requests
BEGIN
    -- The key first: a retried request fails here, on the key, rather than
    -- on its own booking's time.
    INSERT INTO idempotency_keys (tenant_id, idem_key, request_digest, booking_id, created_at_us)
    SELECT NEW.tenant_id, NEW.idem_key, NEW.idem_digest, NEW.booking_id, NEW.created_at_us
    WHERE NEW.idem_key IS NOT NULL;
    -- A group slot's hold gains the seats; its CHECK refuses overselling.
    UPDATE holds SET seats_taken = seats_taken + NEW.seats
    WHERE NEW.capacity > 1 AND tenant_id = NEW.tenant_id AND staff_id = NEW.staff_id
      AND service_id = NEW.service_id AND starts_at_us = NEW.starts_at_us
      AND ends_at_us = NEW.ends_at_us;
    INSERT INTO holds (tenant_id, hold_id, staff_id, service_id, starts_at_us, ends_at_us,
                       held_from_us, held_until_us, capacity, seats_taken)
    SELECT NEW.tenant_id, NEW.hold_id, NEW.staff_id, NEW.service_id, NEW.starts_at_us,
           NEW.ends_at_us, NEW.held_from_us, NEW.held_until_us, NEW.capacity, NEW.seats
    WHERE NOT EXISTS (
        SELECT 1 FROM holds
        WHERE NEW.capacity > 1 AND tenant_id = NEW.tenant_id AND staff_id = NEW.staff_id
          AND service_id = NEW.service_id AND starts_at_us = NEW.starts_at_us
          AND ends_at_us = NEW.ends_at_us
    );
    INSERT INTO bookings (tenant_id, booking_id, hold_id, service_id, staff_id, customer_id,
                          starts_at_us, ends_at_us, seats, status, answers, created_at_us,
                          confirmed_at_us, cancelled_at_us, cancelled_by, reschedules, manage_digest)
    VALUES (
        NEW.tenant_id, NEW.booking_id,
        (SELECT hold_id FROM holds
         WHERE tenant_id = NEW.tenant_id AND staff_id = NEW.staff_id
           AND service_id = NEW.service_id AND starts_at_us = NEW.starts_at_us
           AND ends_at_us = NEW.ends_at_us),
        NEW.service_id, NEW.staff_id, NEW.customer_id, NEW.starts_at_us, NEW.ends_at_us,
        NEW.seats, NEW.status, NEW.answers, NEW.created_at_us, NEW.confirmed_at_us, NULL, NULL,
        NEW.reschedules, NEW.manage_digest
    );
END;
