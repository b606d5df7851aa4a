-- Compute: what a careful reading found wrong in 0005's design.
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: d84507e48635937039f598c72cddedcf8b94777f8fca7d13dbe743cf2b3d3ff5
SET LOCAL ROLE platform_owner;

-- No test hooks in a product database. The clock offset and compute._test_advance_clock were
-- installed everywhere although only tests move the clock; compute._now() is now plain now()
-- (sql/compute.sql) and tests install the movable clock themselves (Tests/fixtures/compute_clock.sql).
-- compute._now() is replaced here, before the table it read goes: migrations and sql/ are applied in
-- separate transactions, so between this migration's commit and the re-apply of sql/ (or for good, if
-- that step fails) every compute call would otherwise fail on the missing table (42P01). Same
-- definition as sql/compute.sql's.
CREATE OR REPLACE FUNCTION compute._now()
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = ''
AS $$ SELECT now() $$;
REVOKE ALL ON FUNCTION compute._now() FROM PUBLIC;
DROP FUNCTION IF EXISTS compute._test_advance_clock(interval);
DROP TABLE compute.clock;

-- A project once above the memory limit was refused for ever (nothing lowered the stored figure
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

-- Projects have owners. Any app_user token could acquire any project id, fill every slot and
-- keep other people's projects from going idle. A project is the user's who acquired it first (the
-- token's sub; acquire_node says why); acquiring another's is 403.
-- On upgrade every existing project gets owner_id NULL: nobody's identity was recorded before. Those
-- that run at that moment are in use by a user we cannot name, so acquire_node hands them to nobody
-- (403, "an operator must assign it"): claiming one would give a stranger who knows its id the real
-- user's live node and lock that user out for good. An operator assigns them (api.set_project_owner,
-- which also reassigns a squatted id or clears an owner); unassigned, such a run ends at the idle
-- release (the refused calls do not keep it in use) and the project becomes claimable. An idle one
-- (no assignment) runs nothing of anyone's and is claimed by its next acquirer.
ALTER TABLE compute.projects ADD COLUMN owner_id text COLLATE "C";
COMMENT ON COLUMN compute.projects.owner_id IS
    'The user (token sub) the project belongs to: its first acquirer, or whom an operator assigned it to (api.set_project_owner). NULL for projects from before owners (or cleared by an operator): claimed by the next acquirer only while it has no assignment.';
CREATE INDEX projects_owner_id_idx ON compute.projects (owner_id);

-- One row per user who acquired a project: acquire_node locks it while it counts the user's running
-- projects and assigns, so concurrent acquisitions by one user cannot all pass the per-user cap.
CREATE TABLE compute.owners (
    user_id       text COLLATE "C" NOT NULL CONSTRAINT owners_pkey PRIMARY KEY,
    first_seen_at timestamptz NOT NULL
);
COMMENT ON TABLE compute.owners IS
    'Users who acquired compute projects; acquire_node locks a user''s row to enforce max_running_projects_per_user.';

-- A per-user cap on running projects: one user cannot take the cluster. 10 of the default 100 slots:
-- a user may keep several projects open, and at least ten users share a full cluster.
ALTER TABLE compute.settings
    ADD COLUMN max_running_projects_per_user integer NOT NULL DEFAULT 10,
    ADD CONSTRAINT settings_max_running_projects_per_user_range CHECK (max_running_projects_per_user BETWEEN 0 AND 100000);
COMMENT ON COLUMN compute.settings.max_running_projects_per_user IS
    'Most projects one user (owner) may run at once; acquire_node answers 429 above it (others are not held back).';

-- Both tables name a user: row level security on (as every user-owned table; no caller role reads
-- them, and their owner's SECURITY DEFINER functions are not subject to it).
ALTER TABLE compute.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE compute.owners ENABLE ROW LEVEL SECURITY;
