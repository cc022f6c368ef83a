-- A public booking is one write: the call that creates the booking also
-- adds its customer when the email is new and registers the manage link in
-- the credential directory (when the directory is in this database), so a
-- refused booking leaves nothing behind. Dropping the old function drops
-- its grant: `bookwarden migrate --app-role ROLE` grants the new one (run
-- it before starting the new version; the old one calls the old function).
--
-- The rules a booking is checked against (the tenant row, staff, services
-- and their staff, schedules) may be read from a kept copy; every change
-- to them moves the tenant's catalog_version, and the booking refuses to
-- run against another version than the copy it was checked with
-- ('bookwarden_catalog_changed'), holding the tenant row FOR SHARE so no
-- change can commit in between. A stale copy costs a retry, never a
-- booking the current rules forbid.

ALTER TABLE tenants ADD COLUMN catalog_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION bookwarden_catalog_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1
    WHERE tenant_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
    RETURN NULL;
END
$$;

CREATE FUNCTION bookwarden_tenant_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    NEW.catalog_version := OLD.catalog_version + 1;
    RETURN NEW;
END
$$;

-- A change to the catalog takes the tenant row before any row of its own,
-- in the same order as a booking (tenant row FOR SHARE first, then the rows
-- its foreign keys check), so the two cannot deadlock. The row triggers
-- below still move the version for a change made outside a scope.
CREATE FUNCTION bookwarden_catalog_lock() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    UPDATE tenants SET catalog_version = catalog_version + 1
    WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid;
    RETURN NULL;
END
$$;

CREATE TRIGGER staff_catalog_lock BEFORE INSERT OR UPDATE OR DELETE
    ON staff FOR EACH STATEMENT EXECUTE FUNCTION bookwarden_catalog_lock();
CREATE TRIGGER services_catalog_lock BEFORE INSERT OR UPDATE OR DELETE
    ON services FOR EACH STATEMENT EXECUTE FUNCTION bookwarden_catalog_lock();
CREATE TRIGGER service_staff_catalog_lock BEFORE INSERT OR UPDATE OR DELETE
    ON service_staff FOR EACH STATEMENT EXECUTE FUNCTION bookwarden_catalog_lock();
CREATE TRIGGER schedules_catalog_lock BEFORE INSERT OR UPDATE OR DELETE
    ON schedules FOR EACH STATEMENT EXECUTE FUNCTION bookwarden_catalog_lock();

CREATE TRIGGER tenants_catalog BEFORE UPDATE OF name, slug, plan, status, time_zone, region
    ON tenants FOR EACH ROW EXECUTE FUNCTION bookwarden_tenant_changed();
CREATE TRIGGER staff_catalog AFTER INSERT OR UPDATE OR DELETE
    ON staff FOR EACH ROW EXECUTE FUNCTION bookwarden_catalog_changed();
CREATE TRIGGER services_catalog AFTER INSERT OR UPDATE OR DELETE
    ON services FOR EACH ROW EXECUTE FUNCTION bookwarden_catalog_changed();
CREATE TRIGGER service_staff_catalog AFTER INSERT OR UPDATE OR DELETE
    ON service_staff FOR EACH ROW EXECUTE FUNCTION bookwarden_catalog_changed();
CREATE TRIGGER schedules_catalog AFTER INSERT OR UPDATE OR DELETE
    ON schedules FOR EACH ROW EXECUTE FUNCTION bookwarden_catalog_changed();

DROP FUNCTION bookwarden_create_booking(
    uuid, uuid, uuid, uuid, uuid, uuid, bigint, bigint, bigint, bigint, bigint, bigint, text,
    text, bigint, bigint, bigint, bytea, text, bytea
);

CREATE FUNCTION bookwarden_create_booking(
    p_tenant uuid, p_booking uuid, p_hold uuid, p_service uuid, p_staff uuid,
    p_customer uuid, p_starts bigint, p_ends bigint, p_from bigint, p_until bigint,
    p_capacity bigint, p_seats bigint, p_status text, p_answers text, p_created bigint,
    p_confirmed bigint, p_reschedules bigint, p_manage bytea, p_idem_key text,
    p_idem_digest bytea, p_customer_email text, p_customer_name text,
    p_customer_phone text, p_register_manage boolean, p_catalog_version bigint
) RETURNS void LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    v_hold uuid;
BEGIN
    IF coalesce(NULLIF(current_setting('app.tenant_id', true), ''), p_tenant::text) <> p_tenant::text THEN
        RAISE EXCEPTION 'bookwarden_wrong_tenant';
    END IF;
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    -- Checked against the rules as they are now, or not at all.
    IF p_catalog_version IS NOT NULL AND p_catalog_version IS DISTINCT FROM (
        SELECT catalog_version FROM tenants WHERE tenant_id = p_tenant FOR SHARE
    ) THEN
        RAISE EXCEPTION 'bookwarden_catalog_changed';
    END IF;
    -- The key first: a retried request fails here, on the key, rather than
    -- on its own booking's time.
    IF p_idem_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant_id, idem_key, request_digest, booking_id, created_at_us)
        VALUES (p_tenant, p_idem_key, p_idem_digest, p_booking, p_created);
    END IF;
    -- A new customer; an email added meanwhile by another request fails
    -- here on UNIQUE (tenant_id, email), and the caller looks it up again.
    IF p_customer_email IS NOT NULL THEN
        INSERT INTO customers (tenant_id, customer_id, email, name, phone, created_at_us)
        VALUES (p_tenant, p_customer, p_customer_email, p_customer_name, p_customer_phone,
                p_created);
    END IF;
    IF p_register_manage AND p_manage IS NOT NULL THEN
        INSERT INTO credential_directory (digest, tenant_id, kind)
        VALUES (p_manage, p_tenant, 'booking_manage');
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

REVOKE ALL ON FUNCTION bookwarden_create_booking FROM PUBLIC;
