-- The key store: tenants' data keys, each wrapped under a master key, kept
-- in a database of their own so a copy of the data databases holds none of
-- them. Destroying a row here makes every value sealed for that tenant
-- unreadable, in every backup of the data (crypto-shredding).
CREATE TABLE tenant_keys (
    tenant_id      uuid    NOT NULL PRIMARY KEY,
    master_version integer NOT NULL,
    wrapped        bytea   NOT NULL,
    updated_at_us  bigint  NOT NULL
);

-- Which key store this is: a random id, made once, that the directory
-- database records on first use, so a server never runs against another
-- (or a new, empty) key store by mistake.
CREATE TABLE key_store_identity (
    one integer NOT NULL PRIMARY KEY CHECK (one = 1),
    id  uuid    NOT NULL
);
