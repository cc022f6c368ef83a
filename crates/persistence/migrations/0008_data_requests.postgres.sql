-- A customer's own data-rights request (P10): a link, made by an admin of
-- the business, that answers the customer's export or erases them. Only
-- the token's SHA-256 is kept; it works once (used_at_us) and expires.
CREATE TABLE data_requests (
    tenant_id     uuid   NOT NULL,
    request_id    uuid   NOT NULL,
    customer_id   uuid   NOT NULL,
    kind          text   NOT NULL CHECK (kind IN ('export', 'erasure')),
    digest        bytea  NOT NULL,
    created_by    uuid   NOT NULL,
    created_at_us bigint NOT NULL,
    expires_at_us bigint NOT NULL,
    used_at_us    bigint,
    PRIMARY KEY (tenant_id, request_id),
    UNIQUE (tenant_id, digest),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id) ON DELETE CASCADE
);

ALTER TABLE data_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON data_requests
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The key store this deployment's data keys live in, recorded on first use
-- (in the directory's database; the row is never changed): a server that
-- opens without a key store, or with another, is refused.
CREATE TABLE key_store_binding (
    one          integer NOT NULL PRIMARY KEY CHECK (one = 1),
    key_store_id uuid    NOT NULL,
    bound_at_us  bigint  NOT NULL
);
