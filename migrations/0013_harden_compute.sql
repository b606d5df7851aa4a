-- Compute, issue 16: what a careful reading found wrong in 0005's design.
SET LOCAL ROLE platform_owner;

-- Item 14: no test hooks in a product database. The clock offset and compute._test_advance_clock were
-- installed everywhere although only tests move the clock; compute._now() is now plain now()
-- (sql/compute.sql) and tests install the movable clock themselves (Tests/fixtures/compute_clock.sql).
DROP FUNCTION IF EXISTS compute._test_advance_clock(interval);
DROP TABLE compute.clock;

-- Item 1: a project once above the memory limit was refused for ever (nothing lowered the stored figure
-- once it had no node). Now the figure belongs to one run: the heartbeat that reports a project above
-- the limit ends its assignment at once (reason over_limit: the node stops it, its node and slot are
-- free for others) and acquire_node answers 413 for over_limit_retry_after after that report; then the
-- project runs again on probation (the old figure expires, its new node measures it; still above, it
-- is stopped again at the first heartbeat). No operator needed.
ALTER TYPE compute.end_reason ADD VALUE 'over_limit';
COMMENT ON TYPE compute.end_reason IS
    'Why an assignment ended: its node missed heartbeats, left, registered again, the project was idle, or its node reported it above the memory limit.';
ALTER TABLE compute.settings
    ADD COLUMN over_limit_retry_after interval NOT NULL DEFAULT '60 seconds',
    ADD CONSTRAINT settings_over_limit_retry_after_positive CHECK (over_limit_retry_after > '0');
COMMENT ON COLUMN compute.settings.over_limit_retry_after IS
    'How long acquire_node refuses (413) a project its node reported above the memory limit; then it runs again on probation, measured anew.';
COMMENT ON COLUMN compute.projects.memory_mb IS
    'The latest report of its node during its current (or last) run; cleared when a new run starts.';
COMMENT ON COLUMN compute.projects.over_limit_since IS
    'Set while the reported memory is above the limit: acquire_node answers 413 until over_limit_retry_after after the report.';
