-- The ceiling: the same two round trips, each a trivial statement.
SELECT 1 AS build_id, 'x' AS lease_token \gset
SELECT :build_id;
