-- A public booking is one write: the statement that creates the booking
-- also adds its customer when the email is new and registers the manage
-- link in the credential directory, so a refused booking leaves nothing
-- behind and no other write has to queue for SQLite's single writer.
--
-- The rules a booking is checked against (the tenant row, staff, services
-- and their staff, schedules) may be read from a kept copy; every change
-- to them moves the tenant's catalog_version, and the booking statement
-- refuses to run against another version than the copy it was checked
-- with ('bookwarden_catalog_changed'), so a stale copy costs a retry,
-- never a booking the current rules forbid.

ALTER TABLE tenants ADD COLUMN catalog_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER tenants_catalog AFTER UPDATE OF name, slug, plan, status, time_zone, region ON tenants
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER staff_catalog_insert AFTER INSERT ON staff
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER staff_catalog_update AFTER UPDATE ON staff
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER staff_catalog_delete AFTER DELETE ON staff
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER services_catalog_insert AFTER INSERT ON services
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER services_catalog_update AFTER UPDATE ON services
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER services_catalog_delete AFTER DELETE ON services
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER service_staff_catalog_insert AFTER INSERT ON service_staff
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER service_staff_catalog_update AFTER UPDATE ON service_staff
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER service_staff_catalog_delete AFTER DELETE ON service_staff
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER schedules_catalog_insert AFTER INSERT ON schedules
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER schedules_catalog_update AFTER UPDATE ON schedules
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER schedules_catalog_delete AFTER DELETE ON schedules
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1 WHERE tenant_id = OLD.tenant_id;
END;

DROP TRIGGER booking_requests_insert;
DROP VIEW booking_requests;

CREATE VIEW booking_requests AS SELECT
    NULL AS tenant_id, NULL AS booking_id, NULL AS hold_id, NULL AS service_id,
    NULL AS staff_id, NULL AS customer_id, NULL AS starts_at_us, NULL AS ends_at_us,
    NULL AS held_from_us, NULL AS held_until_us, NULL AS capacity, NULL AS seats,
    NULL AS status, NULL AS answers, NULL AS created_at_us, NULL AS confirmed_at_us,
    NULL AS reschedules, NULL AS manage_digest, NULL AS idem_key, NULL AS idem_digest,
    NULL AS customer_email, NULL AS customer_name, NULL AS customer_phone,
    NULL AS register_manage, NULL AS catalog_version
WHERE 0;

CREATE TRIGGER booking_requests_insert INSTEAD OF INSERT ON booking_requests
BEGIN
    -- Checked against the rules as they are now, or not at all.
    SELECT RAISE(ABORT, 'bookwarden_catalog_changed')
    WHERE NEW.catalog_version IS NOT NULL
      AND NEW.catalog_version IS NOT (SELECT catalog_version FROM tenants WHERE tenant_id = NEW.tenant_id);
    -- The key first: a retried request fails here, on the key, rather than
    -- on its own booking's time.
    INSERT INTO idempotency_keys (tenant_id, idem_key, request_digest, booking_id, created_at_us)
    SELECT NEW.tenant_id, NEW.idem_key, NEW.idem_digest, NEW.booking_id, NEW.created_at_us
    WHERE NEW.idem_key IS NOT NULL;
    -- A new customer; an email added meanwhile by another request fails
    -- here on UNIQUE (tenant_id, email), and the caller looks it up again.
    INSERT INTO customers (tenant_id, customer_id, email, name, phone, created_at_us)
    SELECT NEW.tenant_id, NEW.customer_id, NEW.customer_email, NEW.customer_name,
           NEW.customer_phone, NEW.created_at_us
    WHERE NEW.customer_email IS NOT NULL;
    INSERT INTO credential_directory (digest, tenant_id, kind)
    SELECT NEW.manage_digest, NEW.tenant_id, 'booking_manage'
    WHERE NEW.register_manage = 1 AND NEW.manage_digest IS NOT NULL;
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
