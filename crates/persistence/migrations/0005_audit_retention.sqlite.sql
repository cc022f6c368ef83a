-- Retention purging: where the purge stopped is recorded with the time of
-- the newest entry it removed and a keyed digest under the tenant's data
-- key, so an anchor moved by anyone without that key is detected.
ALTER TABLE audit_heads ADD COLUMN anchor_at_us INTEGER;
ALTER TABLE audit_heads ADD COLUMN anchor_mac BLOB;
