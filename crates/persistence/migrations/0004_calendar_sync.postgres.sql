-- Calendar sync: what a sync job needs to run on several servers at once
-- (a lease, the next attempt, the failures so far), what the owner sees
-- (a label, the last error's kind, whether a bound cut the import) and the
-- window the kept busy time covers. Busy blocks gain the key of the
-- occurrence they came from, so a sync merges changes into the kept blocks
-- instead of replacing them all. Tenants choose what the booking page does
-- with a staff member whose calendar is not healthy. Row-level security
-- already covers both tables; the new columns change nothing there.

ALTER TABLE calendar_connections
    ADD COLUMN label           text    NOT NULL DEFAULT '',
    ADD COLUMN failures        bigint  NOT NULL DEFAULT 0 CHECK (failures >= 0),
    ADD COLUMN next_sync_at_us bigint,
    ADD COLUMN lease_until_us  bigint,
    ADD COLUMN last_error      text,
    ADD COLUMN degraded        boolean NOT NULL DEFAULT false,
    ADD COLUMN synced_until_us bigint;

CREATE INDEX calendar_connections_due ON calendar_connections (tenant_id, next_sync_at_us);
CREATE INDEX calendar_connections_by_staff ON calendar_connections (tenant_id, staff_id);

ALTER TABLE busy_blocks ADD COLUMN event_key bytea;
CREATE UNIQUE INDEX busy_blocks_by_event ON busy_blocks (tenant_id, connection_id, event_key);

ALTER TABLE tenants
    ADD COLUMN calendar_fail_policy text NOT NULL DEFAULT 'hide'
        CHECK (calendar_fail_policy IN ('hide', 'warn'));
