-- Compute, issue 16: what a careful reading found wrong in 0005's design.
SET LOCAL ROLE platform_owner;

-- Item 14: no test hooks in a product database. The clock offset and compute._test_advance_clock were
-- installed everywhere although only tests move the clock; compute._now() is now plain now()
-- (sql/compute.sql) and tests install the movable clock themselves (Tests/fixtures/compute_clock.sql).
DROP FUNCTION IF EXISTS compute._test_advance_clock(interval);
DROP TABLE compute.clock;
