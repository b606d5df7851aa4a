-- Compute nodes: the cluster design (docs/requirements.md) moved from Redis and in-process locks into
-- transactional SQL (functions in sql/compute.sql). At most N projects run at once (100 by default),
-- each on its own compute node; nodes register and send heartbeats; a node is dead after 60 s without
-- one, judged by the database clock only (compute._now()).
--
-- Why this shape: the rules that PostgreSQL can enforce are constraints here, so no bug in a function
-- (or a DBA's manual UPDATE) can store an illegal state:
--   * compute.assignments holds the LIVE assignments only, with UNIQUE (node_id) (one project per node),
--     UNIQUE (project_id) (one live assignment per project) and UNIQUE (slot_no): every live assignment
--     holds one row of compute.slots, so the number of running projects cannot exceed the slot rows
--     usable under settings.max_running_projects, whatever the concurrency.
--     Ended assignments move to compute.assignment_history (a log, no foreign keys, never blocks).
--   * every assignment's epoch comes from the sequence compute.epochs (NO CYCLE: it only grows). Node
--     registrations draw their epoch from the same sequence, so one number orders everything, and an
--     assignment's epoch is always greater than the registration epoch of its node (CHECK).
--   * a node is 'live' or 'draining' with a lease row (compute.node_leases: its registration epoch and
--     last heartbeat), or 'left' without one. Heartbeats write only the lease row, never compute.nodes:
--     assigners lock free node rows FOR NO KEY UPDATE SKIP LOCKED, and a heartbeat must not make a free
--     node look busy to them.
--   * times are stored from compute._now() (the database clock; see compute.clock).
-- Callers never touch the tables: they get EXECUTE on functions in `api` (sql/compute.sql), which are
-- SECURITY DEFINER (owner platform_owner).
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: bc1cf5890f89ea51d0bf4e4e2591a6ffccc2a27fd511268ee9c35351edcc2d5e
SET LOCAL ROLE platform_owner;

-- 0002 and 0004 create api too; any of them may run first (or alone).
CREATE SCHEMA IF NOT EXISTS api AUTHORIZATION platform_owner;
GRANT USAGE ON SCHEMA api TO app_user, worker, operator;

CREATE SCHEMA compute;
COMMENT ON SCHEMA compute IS 'Private: compute nodes, project assignments and helpers. Callers go through api.';
REVOKE ALL ON SCHEMA compute FROM PUBLIC;

CREATE TYPE compute.node_state AS ENUM ('live', 'draining', 'left');
COMMENT ON TYPE compute.node_state IS
    'live: takes projects; draining: keeps its projects, takes no new ones (operator); left: unregistered.';

CREATE TYPE compute.end_reason AS ENUM ('node_dead', 'node_left', 'node_restarted', 'idle');
COMMENT ON TYPE compute.end_reason IS
    'Why an assignment ended: its node missed heartbeats, left, registered again, or the project was idle.';

-- The only source of epochs. NO CYCLE: it never wraps, so an epoch only grows.
CREATE SEQUENCE compute.epochs AS bigint NO CYCLE;
COMMENT ON SEQUENCE compute.epochs IS
    'Epochs of node registrations and assignments (one sequence: one order). Never reset, never cycles.';

-- The database clock, with a test-only offset. compute._now() = now() + offset_by. The offset is a row
-- (not a custom GUC: any role that can run SQL may SET a custom GUC) that only the owner may change,
-- through compute._test_advance_clock, which no API role may execute. In production it stays 0.
CREATE TABLE compute.clock (
    singleton boolean NOT NULL DEFAULT true CONSTRAINT clock_pkey PRIMARY KEY,
    offset_by interval NOT NULL DEFAULT '0',
    CONSTRAINT clock_singleton_true CHECK (singleton)
);
INSERT INTO compute.clock DEFAULT VALUES;
COMMENT ON TABLE compute.clock IS
    'One row: the offset tests add to now() (compute._test_advance_clock). 0 in production.';

-- Configurable by an operator (api.set_compute_settings).
CREATE TABLE compute.settings (
    singleton            boolean NOT NULL DEFAULT true CONSTRAINT settings_pkey PRIMARY KEY,
    memory_limit_mb      integer NOT NULL DEFAULT 4096,
    heartbeat_timeout    interval NOT NULL DEFAULT '60 seconds',
    idle_release_after   interval NOT NULL DEFAULT '30 minutes',
    max_running_projects integer NOT NULL DEFAULT 100,
    spare_nodes          integer NOT NULL DEFAULT 0,
    retry_after_seconds  integer NOT NULL DEFAULT 10,
    CONSTRAINT settings_singleton_true CHECK (singleton),
    CONSTRAINT settings_memory_limit_mb_positive CHECK (memory_limit_mb > 0),
    CONSTRAINT settings_heartbeat_timeout_positive CHECK (heartbeat_timeout > '0'),
    CONSTRAINT settings_idle_release_after_positive CHECK (idle_release_after > '0'),
    CONSTRAINT settings_max_running_projects_range CHECK (max_running_projects BETWEEN 0 AND 100000),
    CONSTRAINT settings_spare_nodes_range CHECK (spare_nodes >= 0),
    CONSTRAINT settings_retry_after_seconds_positive CHECK (retry_after_seconds > 0)
);
INSERT INTO compute.settings DEFAULT VALUES;
COMMENT ON TABLE compute.settings IS
    'One row: memory limit per project (MB), heartbeat timeout, idle release time, max running projects, spare idle nodes, Retry-After.';

-- One row per running-project slot; a live assignment holds one (UNIQUE). Slots above
-- settings.max_running_projects are not handed out; set_compute_settings adds rows when it is raised.
CREATE TABLE compute.slots (
    slot_no integer NOT NULL CONSTRAINT slots_pkey PRIMARY KEY,
    CONSTRAINT slots_slot_no_positive CHECK (slot_no > 0)
);
INSERT INTO compute.slots (slot_no) SELECT generate_series(1, 100);
COMMENT ON TABLE compute.slots IS
    'Running-project slots 1..n; each live assignment holds one, so at most max_running_projects run at once.';

CREATE TABLE compute.nodes (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT nodes_pkey PRIMARY KEY,
    name          text COLLATE "C" NOT NULL CONSTRAINT nodes_name_key UNIQUE,
    memory_mb     integer NOT NULL,
    state         compute.node_state NOT NULL DEFAULT 'live',
    registered_at timestamptz NOT NULL,       -- compute._now() of the latest registration
    left_at       timestamptz,
    CONSTRAINT nodes_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT nodes_memory_mb_positive CHECK (memory_mb > 0),
    CONSTRAINT nodes_left_at_state CHECK ((state = 'left') = (left_at IS NOT NULL))
);
COMMENT ON TABLE compute.nodes IS
    'Compute nodes by name. Rows are kept when a node leaves (state left); registering again revives them.';
COMMENT ON COLUMN compute.nodes.memory_mb IS 'The node''s memory capacity in MB, as registered.';

-- The lease of a registered node: its registration epoch and last heartbeat (database clock). Exists
-- while the node is live or draining; removed when it leaves. A node is alive while
-- last_heartbeat_at >= compute._now() - heartbeat_timeout; once expired, only registering again
-- (a new epoch) revives it: late heartbeats of the old epoch are refused.
CREATE TABLE compute.node_leases (
    node_id           bigint NOT NULL CONSTRAINT node_leases_pkey PRIMARY KEY
                      CONSTRAINT node_leases_node_id_fkey REFERENCES compute.nodes (id),
    epoch             bigint NOT NULL CONSTRAINT node_leases_epoch_key UNIQUE,
    last_heartbeat_at timestamptz NOT NULL
);
COMMENT ON TABLE compute.node_leases IS
    'Registered nodes'' current epoch and last heartbeat. Written by heartbeats (never compute.nodes, which assigners lock).';

CREATE TABLE compute.projects (
    id                 text COLLATE "C" NOT NULL CONSTRAINT projects_pkey PRIMARY KEY,
    first_seen_at      timestamptz NOT NULL,
    last_used_at       timestamptz NOT NULL,   -- the latest acquire_node answered for it
    memory_mb          integer,                -- latest heartbeat report
    memory_reported_at timestamptz,
    over_limit_since   timestamptz,            -- marked: first report above the limit (cleared below it)
    CONSTRAINT projects_id_length CHECK (length(id) BETWEEN 1 AND 200),
    CONSTRAINT projects_memory_mb_nonnegative CHECK (memory_mb >= 0),
    CONSTRAINT projects_memory_reported_at_memory_mb CHECK ((memory_mb IS NULL) = (memory_reported_at IS NULL)),
    CONSTRAINT projects_over_limit_since_memory_mb CHECK (over_limit_since IS NULL OR memory_mb IS NOT NULL)
);
COMMENT ON TABLE compute.projects IS
    'Projects seen by acquire_node: last use (for idle release) and the memory their node reports (for the limit).';
COMMENT ON COLUMN compute.projects.over_limit_since IS
    'Set while the reported memory is above the limit: acquire_node answers 413 for the project.';

CREATE TABLE compute.assignments (
    epoch          bigint NOT NULL DEFAULT nextval('compute.epochs') CONSTRAINT assignments_pkey PRIMARY KEY,
    project_id     text COLLATE "C" NOT NULL CONSTRAINT assignments_project_id_key UNIQUE
                   CONSTRAINT assignments_project_id_fkey REFERENCES compute.projects (id),
    node_id        bigint NOT NULL CONSTRAINT assignments_node_id_key UNIQUE
                   CONSTRAINT assignments_node_id_fkey REFERENCES compute.nodes (id),
    node_epoch     bigint NOT NULL,            -- the node's registration epoch when assigned
    slot_no        integer NOT NULL CONSTRAINT assignments_slot_no_key UNIQUE
                   CONSTRAINT assignments_slot_no_fkey REFERENCES compute.slots (slot_no),
    assigned_at    timestamptz NOT NULL,
    peak_memory_mb integer,                    -- highest usage reported during this assignment
    CONSTRAINT assignments_epoch_after_node_epoch CHECK (epoch > node_epoch),
    CONSTRAINT assignments_peak_memory_mb_nonnegative CHECK (peak_memory_mb >= 0)
);
COMMENT ON TABLE compute.assignments IS
    'Live assignments only: one project per node, one node per project, one slot each. Ended ones move to assignment_history.';
COMMENT ON CONSTRAINT assignments_node_id_key ON compute.assignments IS 'One project per node.';
COMMENT ON CONSTRAINT assignments_project_id_key ON compute.assignments IS 'One live assignment per project.';
COMMENT ON CONSTRAINT assignments_slot_no_key ON compute.assignments IS
    'Each running project holds its own slot: the cap on running projects is a constraint.';

CREATE TABLE compute.assignment_history (
    epoch          bigint NOT NULL CONSTRAINT assignment_history_pkey PRIMARY KEY,
    project_id     text COLLATE "C" NOT NULL,
    node_id        bigint NOT NULL,
    node_epoch     bigint NOT NULL,
    assigned_at    timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL,
    end_reason     compute.end_reason NOT NULL,
    peak_memory_mb integer,
    CONSTRAINT assignment_history_ended_after_assigned CHECK (ended_at >= assigned_at)
);
COMMENT ON TABLE compute.assignment_history IS
    'Ended assignments (a log: no foreign keys, so ending an assignment never waits on a node or project row).';
CREATE INDEX assignment_history_project_id_idx ON compute.assignment_history (project_id, epoch);
CREATE INDEX assignment_history_node_id_idx ON compute.assignment_history (node_id, ended_at);

-- The assigner's pick: live nodes in id order (ORDER BY id ... FOR NO KEY UPDATE SKIP LOCKED).
CREATE INDEX nodes_live_idx ON compute.nodes (id) WHERE state = 'live';
