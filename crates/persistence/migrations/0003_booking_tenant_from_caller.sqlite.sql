-- Nothing changes on SQLite: it has no row-level security, and the booking
-- path's tenant check is the store's (a booking of another tenant than the
-- bound one is refused before any statement). The migration exists on both
-- dialects so that the two schemas keep one version history.
SELECT 1;
