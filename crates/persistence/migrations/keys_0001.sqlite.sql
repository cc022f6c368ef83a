-- The key store: tenants' data keys, each wrapped under a master key, kept
-- in a database of their own so a copy of the data databases holds none of
-- them. Destroying a row here makes every value sealed for that tenant
-- unreadable, in every backup of the data (crypto-shredding).
CREATE TABLE tenant_keys (
    tenant_id      BLOB    NOT NULL PRIMARY KEY,
    master_version INTEGER NOT NULL,
    wrapped        BLOB    NOT NULL,
    updated_at_us  INTEGER NOT NULL
) STRICT;

-- Which key store this is: a random id, made once, that the directory
-- database records on first use, so a server never runs against another
-- (or a new, empty) key store by mistake.
CREATE TABLE key_store_identity (
    one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    id  BLOB    NOT NULL
) STRICT;
