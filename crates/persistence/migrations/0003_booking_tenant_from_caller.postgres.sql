-- The booking function no longer takes its tenant from its own argument:
-- until now it set `app.tenant_id` from `p_tenant` whenever the caller had
-- not, so row-level security checked the rows it wrote against the very
-- value it was asked to trust. Now the caller must have set the tenant for
-- its transaction (the store's tenant-bound booking path does, in the same
-- statement), `p_tenant` must equal it, and row-level security applies to
-- every row written. CREATE OR REPLACE keeps the signature and its grant.

CREATE OR REPLACE FUNCTION bookwarden_create_booking(
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
    -- The tenant is the caller's, set for this transaction before the
    -- call: row-level security checks every row below against it, and a
    -- p_tenant that is not that tenant is refused.
    IF NULLIF(current_setting('app.tenant_id', true), '') IS DISTINCT FROM p_tenant::text THEN
        RAISE EXCEPTION 'bookwarden_wrong_tenant';
    END IF;
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
