-- A customer's own data-rights request (P10): a link, made by an admin of
-- the business, that answers the customer's export or erases them. Only
-- the token's SHA-256 is kept; it works once (used_at_us) and expires.
CREATE TABLE data_requests (
    tenant_id     BLOB    NOT NULL,
    request_id    BLOB    NOT NULL,
    customer_id   BLOB    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('export', 'erasure')),
    digest        BLOB    NOT NULL,
    created_by    BLOB    NOT NULL,
    created_at_us INTEGER NOT NULL,
    expires_at_us INTEGER NOT NULL,
    used_at_us    INTEGER,
    PRIMARY KEY (tenant_id, request_id),
    UNIQUE (tenant_id, digest),
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id) ON DELETE CASCADE
) STRICT;

-- The key store this deployment's data keys live in, recorded on first use
-- (in the directory's database; the row is never changed): a server that
-- opens without a key store, or with another, is refused.
CREATE TABLE key_store_binding (
    one          INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    key_store_id BLOB    NOT NULL,
    bound_at_us  INTEGER NOT NULL
) STRICT;
