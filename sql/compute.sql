-- Compute nodes API: the functions the gateway exposes over /rpc (schema api) and their private helpers
-- (schema compute, names starting with _). Repeatable: re-applied on every migrate.
--
-- Who may call what (nothing is executable by PUBLIC):
--   app_user  acquire_node                          (the control plane, computing for a user's project;
--             the token's sub is the user: a project is its first acquirer's, 403 for anyone else)
--   worker    register_node, node_heartbeat, leave_node   (the node agents; each only for its own node:
--             the token's "node" claim must name it, auth.require_agent, else 403. One shared worker
--             role would otherwise let any agent re-register, and so empty, any node.)
--   operator  drain_node, release_idle_projects, surplus_idle_nodes, list_compute_nodes,
--             compute_settings, set_compute_settings, set_project_owner
--             Not node agents, even for their own node: draining is the fleet owner's decision (a node
--             that wants out calls leave_node, which hands its project back at once); the idle release
--             ends other users' assignments on every node, and surplus_idle_nodes is the autoscaler's
--             view of the whole fleet. A node agent needs neither, and a stolen agent token must not
--             reach beyond its one node.
--
-- Time: every decision uses compute._now(), the database's clock (never a caller's). Tests install a
-- movable one (Tests/fixtures/compute_clock.sql: compute._test_advance_clock(interval)); nothing sleeps.
-- No test hook ships with the product (migration 0013).
--
-- acquire_node(project_id), in one transaction:
--   0. 403 (PT403) when the project belongs to another user (projects.owner_id: its first acquirer,
--      or whom an operator assigned it to with set_project_owner).
--   1. upserts the project row (claiming it), which locks it: concurrent calls for one project queue
--      here and the later ones see the first one's assignment (they converge on one node, one epoch).
--      A project without an owner (from before owners, or cleared by an operator) is claimed only while
--      it runs nothing: one with a live assignment is 403 "an operator must assign it" (see step 1).
--   2. 413 (PT413) when the project's reported memory is above the limit.
--   3. its live assignment on an alive node (lease fresh, same registration epoch): answered as is.
--      On a dead node: the assignment ends (history, reason node_dead) and it gets a new one below.
--   4. the user's cap: 429 with Retry-After when the user already runs settings.
--      max_running_projects_per_user projects (10 by default: one user cannot take the cluster; other
--      users still get nodes, or the cluster's own "come back later"). The user's row of compute.owners
--      is locked while counting, so one user's concurrent acquisitions cannot pass the cap together.
--      Then a slot (cap on running projects) then a free live alive node, each picked in one statement
--      `ORDER BY ... LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED`, so concurrent callers spread over different
--      rows instead of queueing. A row picked from a snapshot older than a concurrent commit is checked
--      again by a fresh statement while we hold its lock (nobody else can take it then); if it was
--      taken, pick again (at most 10 times, then 503 with Retry-After 1: a storm of acquisitions).
--      No slot: assignments on dead nodes are ended (projects locked SKIP LOCKED) and the pick retried.
--      Still none: 503 with Retry-After, "all compute nodes are busy, come back later".
--   The UNIQUE constraints on assignments (node_id, project_id, slot_no) hold whatever happens.
--
-- Node side (worker): register_node returns the node's epoch (a new one on every registration, from the
-- same sequence as assignment epochs). node_heartbeat and leave_node carry it. A stale epoch (the node
-- registered again since, or left) or a heartbeat after the lease expired (the node was declared dead;
-- its projects may run elsewhere) gets 409 (PT409) and changes nothing: the node must register again
-- and start empty. A heartbeat reports {project_id: memory_mb}; it is recorded for the projects assigned
-- to this node and epoch only. The answer lists the projects (with their assignment epochs) the node
-- serves, and `stop`: reported projects it must stop serving (moved, released, never its own).
--
-- Memory limit: heartbeats record each project's memory. Above settings.memory_limit_mb (4096 MB by
-- default) the project is marked (projects.over_limit_since), the heartbeat answer lists it in
-- `over_limit` and `stop` (the agent stops it now), and its assignment ends (reason over_limit: its node
-- and slot are free for others at once). acquire_node answers 413 (PT413) with its usage, the limit,
-- and when it may run again: settings.over_limit_retry_after (60 s) after the report. Then it runs on
-- probation: the old figure expires with the run, the new node measures it, and if it is still above
-- it is stopped at the first heartbeat and refused again. A user who reduced the data needs no operator
-- (the product promises that a project fails while it uses more than the limit, not for ever); the wait
-- keeps a caller that retries in a loop from loading a too-large project on a node again and again.
-- The mark also clears when an operator raises the limit.
--
-- After the peak: "idle" = no acquire_node answered for the project (projects.last_used_at) for
-- settings.idle_release_after. release_idle_projects (an operator's periodic job) ends those
-- assignments and the ones on dead nodes; surplus_idle_nodes tells an autoscaler which nodes to remove.
--
-- Locking order (never deadlocks): node row -> lease row -> project rows -> owner row (acquire_node
-- only, then no waiting but for the unique indexes) -> assignment rows; slots and
-- free nodes are only ever locked with SKIP LOCKED (no waiting), other projects' rows too. Node rows are
-- locked FOR NO KEY UPDATE (or by plain UPDATEs of non-key columns), which never blocks the KEY SHARE
-- lock an assignment's foreign key takes.
--
-- Errors (SQLSTATE -> HTTP through the gateway): 22023 bad argument -> 400; PT404 unknown node -> 404;
-- PT401 no user in the token -> 401; PT403 another user's project or another node's agent -> 403;
-- PT409 stale epoch, expired lease, node left -> 409; PT413 project above the memory limit -> 413;
-- PGRST with status 429 and Retry-After when the user runs max_running_projects_per_user projects;
-- PGRST with status 503 and Retry-After when all nodes are busy or the running-project cap is reached.
SET LOCAL ROLE platform_owner;

-- When a signature changes, DROP FUNCTION IF EXISTS the old one here, above its replacement.
DROP FUNCTION IF EXISTS compute._raise_busy(text);   -- now (text, integer): Retry-After per cause
DROP FUNCTION IF EXISTS api.set_compute_settings(integer, integer, integer, integer, integer, integer);   -- + over_limit_retry_seconds
DROP FUNCTION IF EXISTS api.set_compute_settings(integer, integer, integer, integer, integer, integer, integer);   -- + max_running_projects_per_user

------------------------------------------------------------------------------------------------------
-- Private helpers
------------------------------------------------------------------------------------------------------

-- The database clock every decision uses (never a caller's). Tests replace it by one they can move
-- (Tests/fixtures/compute_clock.sql, with compute._test_advance_clock); a product database has no hook.
CREATE OR REPLACE FUNCTION compute._now()
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = ''
AS $$ SELECT now() $$;
REVOKE ALL ON FUNCTION compute._now() FROM PUBLIC;
COMMENT ON FUNCTION compute._now() IS
    'Private: the database clock every decision uses (now(); tests install a movable one from Tests/fixtures).';

-- The settings row.
CREATE OR REPLACE FUNCTION compute._settings()
RETURNS compute.settings
LANGUAGE sql STABLE
SET search_path = ''
AS $$ SELECT s FROM compute.settings s $$;
REVOKE ALL ON FUNCTION compute._settings() FROM PUBLIC;
COMMENT ON FUNCTION compute._settings() IS 'Private: the settings row.';

-- The settings as the operator calls return them.
CREATE OR REPLACE FUNCTION compute._settings_json(p_settings compute.settings)
RETURNS json
LANGUAGE sql IMMUTABLE
SET search_path = ''
AS $$
    SELECT json_build_object(
        'memory_limit_mb', p_settings.memory_limit_mb,
        'heartbeat_timeout_seconds', extract(epoch FROM p_settings.heartbeat_timeout)::integer,
        'idle_release_seconds', extract(epoch FROM p_settings.idle_release_after)::integer,
        'max_running_projects', p_settings.max_running_projects,
        'spare_nodes', p_settings.spare_nodes,
        'retry_after_seconds', p_settings.retry_after_seconds,
        'over_limit_retry_seconds', extract(epoch FROM p_settings.over_limit_retry_after)::integer,
        'max_running_projects_per_user', p_settings.max_running_projects_per_user)
$$;
REVOKE ALL ON FUNCTION compute._settings_json(compute.settings) FROM PUBLIC;
COMMENT ON FUNCTION compute._settings_json(compute.settings) IS 'Private: the settings row as JSON (intervals in seconds).';

-- Validates a name argument (project id or node name): 1 to 200 characters (the columns' own limit,
-- docs/limits.md), else 22023 (400) naming the argument.
CREATE OR REPLACE FUNCTION compute._check_name(p_value text, p_argument text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    PERFORM auth.check_text(p_value, p_argument, 200);
    IF p_value IS NULL OR p_value = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must be a string of 1 to 200 characters', p_argument),
            DETAIL = format('Got %s.', CASE WHEN p_value IS NULL THEN 'null' ELSE 'an empty string' END),
            HINT = format('Send "%s" as a non-empty string.', p_argument);
    END IF;
    RETURN p_value;
END
$$;
REVOKE ALL ON FUNCTION compute._check_name(text, text) FROM PUBLIC;
COMMENT ON FUNCTION compute._check_name(text, text) IS 'Private: validates a project id or node name (1 to 200 characters); 22023 (400) naming the argument otherwise.';

-- Ends a live assignment: moves it to the history with the reason. False if it was no longer live.
CREATE OR REPLACE FUNCTION compute._end_assignment(p_epoch bigint, p_reason compute.end_reason)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_ended int;
BEGIN
    WITH ended AS (
        DELETE FROM compute.assignments a WHERE a.epoch = p_epoch RETURNING a.*
    )
    INSERT INTO compute.assignment_history
        (epoch, project_id, node_id, node_epoch, assigned_at, ended_at, end_reason, peak_memory_mb)
    SELECT e.epoch, e.project_id, e.node_id, e.node_epoch, e.assigned_at,
           greatest(compute._now(), e.assigned_at), p_reason, e.peak_memory_mb
    FROM ended e;
    GET DIAGNOSTICS v_ended = ROW_COUNT;
    RETURN v_ended > 0;
END
$$;
REVOKE ALL ON FUNCTION compute._end_assignment(bigint, compute.end_reason) FROM PUBLIC;
COMMENT ON FUNCTION compute._end_assignment(bigint, compute.end_reason) IS
    'Private: ends a live assignment (moves it to assignment_history with the reason); false if already ended.';

-- Ends the assignments of a node (caller holds the node's row lock); returns the project ids.
CREATE OR REPLACE FUNCTION compute._end_node_assignments(p_node_id bigint, p_reason compute.end_reason)
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_projects text[] := '{}';
    v_row      record;
BEGIN
    FOR v_row IN SELECT a.epoch, a.project_id FROM compute.assignments a WHERE a.node_id = p_node_id ORDER BY a.project_id LOOP
        IF compute._end_assignment(v_row.epoch, p_reason) THEN
            v_projects := v_projects || v_row.project_id;
        END IF;
    END LOOP;
    RETURN v_projects;
END
$$;
REVOKE ALL ON FUNCTION compute._end_node_assignments(bigint, compute.end_reason) FROM PUBLIC;
COMMENT ON FUNCTION compute._end_node_assignments(bigint, compute.end_reason) IS
    'Private: ends every live assignment of a node with the reason; returns their project ids.';

-- Ends the assignments whose node is dead (lease expired, gone, or registered again), for projects
-- nobody else holds right now (SKIP LOCKED: never waits). Returns how many ended.
CREATE OR REPLACE FUNCTION compute._end_dead_assignments()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_now     timestamptz := compute._now();
    v_timeout interval := (compute._settings()).heartbeat_timeout;
    v_epoch   bigint;
    v_count   integer := 0;
BEGIN
    FOR v_epoch IN
        SELECT a.epoch FROM compute.assignments a
        JOIN compute.projects p ON p.id = a.project_id
        LEFT JOIN compute.node_leases l ON l.node_id = a.node_id
        WHERE l.node_id IS NULL OR l.epoch <> a.node_epoch OR l.last_heartbeat_at < v_now - v_timeout
        ORDER BY a.project_id
        FOR NO KEY UPDATE OF p SKIP LOCKED
    LOOP
        IF compute._end_assignment(v_epoch, 'node_dead') THEN
            v_count := v_count + 1;
        END IF;
    END LOOP;
    RETURN v_count;
END
$$;
REVOKE ALL ON FUNCTION compute._end_dead_assignments() FROM PUBLIC;
COMMENT ON FUNCTION compute._end_dead_assignments() IS
    'Private: ends assignments on dead nodes (projects locked SKIP LOCKED, never waits); returns the count.';

-- Takes a free running-project slot (below the cap) and returns it locked, or NULL if none is free.
CREATE OR REPLACE FUNCTION compute._take_slot(p_max integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_slot integer;
BEGIN
    -- Each failed re-check means a concurrent acquisition committed on the row we picked; ten in a
    -- row is a storm that would otherwise keep this call (and its pool connection) spinning.
    FOR v_attempt IN 1..10 LOOP
        SELECT s.slot_no INTO v_slot FROM compute.slots s
        WHERE s.slot_no <= p_max
          AND NOT EXISTS (SELECT FROM compute.assignments a WHERE a.slot_no = s.slot_no)
        ORDER BY s.slot_no LIMIT 1
        FOR NO KEY UPDATE SKIP LOCKED;
        IF v_slot IS NULL THEN
            RETURN NULL;
        END IF;
        -- A fresh snapshot: an assignment committed after the pick's snapshot may hold it. We hold the
        -- slot's lock now, so nobody else can take it between this check and our insert.
        IF NOT EXISTS (SELECT FROM compute.assignments a WHERE a.slot_no = v_slot) THEN
            RETURN v_slot;
        END IF;
    END LOOP;
    PERFORM compute._raise_busy('Concurrent acquisitions took every free running-project slot this call picked (10 attempts).', 1);
    RETURN NULL;   -- not reached
END
$$;
REVOKE ALL ON FUNCTION compute._take_slot(integer) FROM PUBLIC;
COMMENT ON FUNCTION compute._take_slot(integer) IS
    'Private: a free slot numbered <= the cap, locked (SKIP LOCKED pick, re-checked on a fresh snapshot); NULL if none; 503 (Retry-After 1) after 10 picks taken concurrently.';

-- Takes a free node: live (not draining, not left), alive (fresh lease), without a project. Returns its
-- id and registration epoch, the node row locked; NULLs if none.
CREATE OR REPLACE FUNCTION compute._take_node(OUT o_node_id bigint, OUT o_node_epoch bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_alive_since timestamptz := compute._now() - (compute._settings()).heartbeat_timeout;
    v_node        bigint;
BEGIN
    FOR v_attempt IN 1..10 LOOP   -- bounded as in _take_slot
        SELECT n.id INTO v_node FROM compute.nodes n
        WHERE n.state = 'live'
          AND EXISTS (SELECT FROM compute.node_leases l
                      WHERE l.node_id = n.id AND l.last_heartbeat_at >= v_alive_since)
          AND NOT EXISTS (SELECT FROM compute.assignments a WHERE a.node_id = n.id)
        ORDER BY n.id LIMIT 1
        FOR NO KEY UPDATE OF n SKIP LOCKED;
        IF v_node IS NULL THEN
            RETURN;
        END IF;
        -- Fresh snapshot, node row locked (its state cannot change now): still live, alive and free?
        SELECT n.id, l.epoch INTO o_node_id, o_node_epoch
        FROM compute.nodes n JOIN compute.node_leases l ON l.node_id = n.id
        WHERE n.id = v_node AND n.state = 'live' AND l.last_heartbeat_at >= v_alive_since
          AND NOT EXISTS (SELECT FROM compute.assignments a WHERE a.node_id = n.id);
        IF o_node_id IS NOT NULL THEN
            RETURN;
        END IF;
    END LOOP;
    PERFORM compute._raise_busy('Concurrent acquisitions took every free compute node this call picked (10 attempts).', 1);
END
$$;
REVOKE ALL ON FUNCTION compute._take_node() FROM PUBLIC;
COMMENT ON FUNCTION compute._take_node() IS
    'Private: a free live alive node, row locked (SKIP LOCKED pick, re-checked on a fresh snapshot), with its registration epoch; NULLs if none; 503 (Retry-After 1) after 10 picks taken concurrently.';

-- Raises the "come back later" answer: 503 with Retry-After (RAISE SQLSTATE PGRST gives the gateway
-- the status and headers): settings.retry_after_seconds when capacity is short, or p_retry_after (1 s
-- when a retry loop gave up on contention, which passes quickly). The one retryable code of compute:
-- PGRST with status 503, whose body says PT503 (the gateway turns it into 503 + Retry-After as is).
CREATE OR REPLACE FUNCTION compute._raise_busy(p_details text, p_retry_after integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_retry integer := coalesce(p_retry_after, (compute._settings()).retry_after_seconds);
BEGIN
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = json_build_object(
            'code', 'PT503',
            'message', 'All compute nodes are busy. Please come back later.',
            'details', p_details,
            'hint', format('Retry in %s seconds: nodes are freed as projects go idle and nodes join.', v_retry))::text,
        DETAIL = json_build_object('status', 503, 'headers', json_build_object('Retry-After', v_retry::text))::text;
END
$$;
REVOKE ALL ON FUNCTION compute._raise_busy(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION compute._raise_busy(text, integer) IS
    'Private: 503 with Retry-After (the setting, or p_retry_after), "All compute nodes are busy. Please come back later." (RAISE SQLSTATE PGRST).';

-- Raises why a node-side call carrying an epoch was refused: PT404 if the node is unknown, else PT409:
-- it left, or the epoch is not its current one, or (the epoch being current) its lease expired.
CREATE OR REPLACE FUNCTION compute._raise_stale(p_name text, p_epoch bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_node  compute.nodes;
    v_lease compute.node_leases;
BEGIN
    SELECT * INTO v_node FROM compute.nodes n WHERE n.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('compute node %s is not registered', quote_literal(p_name)),
            HINT = 'Register it with register_node first.';
    END IF;
    SELECT * INTO v_lease FROM compute.node_leases l WHERE l.node_id = v_node.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('compute node %s has left the cluster', quote_literal(p_name)),
            DETAIL = format('It left at %s; epoch %s is no longer valid.', v_node.left_at, coalesce(p_epoch::text, 'null')),
            HINT = 'Stop serving every project and register again (register_node) to get a new epoch.';
    END IF;
    IF p_epoch IS DISTINCT FROM v_lease.epoch THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('stale epoch %s for compute node %s', coalesce(p_epoch::text, 'null'), quote_literal(p_name)),
            DETAIL = format('The node''s current registration has epoch %s.', v_lease.epoch),
            HINT = 'This process is not the node''s current registration: stop serving every project and register again.';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('the lease of compute node %s expired', quote_literal(p_name)),
        DETAIL = format('Last heartbeat at %s; a node is dead after %s without one, and its projects may run elsewhere now.',
                        v_lease.last_heartbeat_at, (compute._settings()).heartbeat_timeout),
        HINT = 'Stop serving every project and register again (register_node) to get a new epoch.';
END
$$;
REVOKE ALL ON FUNCTION compute._raise_stale(text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION compute._raise_stale(text, bigint) IS
    'Private: explains why a node-side call was refused: 404 (PT404) unknown node, else 409 (PT409) left, stale epoch or expired lease.';

-- The projects a node serves now, with their assignment epochs (the node's fencing tokens).
CREATE OR REPLACE FUNCTION compute._node_projects(p_node_id bigint)
RETURNS json
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT coalesce(json_agg(json_build_object('project_id', a.project_id, 'epoch', a.epoch,
                                               'assigned_at', a.assigned_at) ORDER BY a.project_id), '[]')
    FROM compute.assignments a WHERE a.node_id = p_node_id
$$;
REVOKE ALL ON FUNCTION compute._node_projects(bigint) FROM PUBLIC;
COMMENT ON FUNCTION compute._node_projects(bigint) IS 'Private: [{project_id, epoch, assigned_at}] of the node''s live assignments.';

-- Locks the named node's row; PT404 if unknown.
CREATE OR REPLACE FUNCTION compute._lock_node(p_name text)
RETURNS compute.nodes
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_node compute.nodes;
BEGIN
    SELECT * INTO v_node FROM compute.nodes n WHERE n.name = p_name FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('compute node %s is not registered', coalesce(quote_literal(p_name), 'null')),
            HINT = 'list_compute_nodes shows the registered nodes.';
    END IF;
    RETURN v_node;
END
$$;
REVOKE ALL ON FUNCTION compute._lock_node(text) FROM PUBLIC;
COMMENT ON FUNCTION compute._lock_node(text) IS 'Private: locks (FOR NO KEY UPDATE) and returns the named node; PT404 (404) if unknown.';

-- Raises 403: the project belongs to another user (its id says nothing more about it).
CREATE OR REPLACE FUNCTION compute._raise_not_owner(p_project text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PT403',
        MESSAGE = format('project %s belongs to another user', quote_literal(p_project)),
        DETAIL = 'A project is the user''s who acquired it first; only that user may acquire it.',
        HINT = 'Use a project id of your own.';
END
$$;
REVOKE ALL ON FUNCTION compute._raise_not_owner(text) FROM PUBLIC;
COMMENT ON FUNCTION compute._raise_not_owner(text) IS 'Private: 403 (PT403), the project belongs to another user.';

-- Raises 403: the project has no owner and runs now, so it is nobody's to claim (acquire_node, step 1).
CREATE OR REPLACE FUNCTION compute._raise_unclaimed(p_project text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PT403',
        MESSAGE = format('project %s has no owner and is running: an operator must assign it', quote_literal(p_project)),
        DETAIL = 'It was acquired before projects had owners (or an operator cleared its owner) and runs on a compute node now; who runs it was not recorded, so it is handed to no new acquirer.',
        HINT = 'Ask an operator to assign it to you (set_project_owner). Once it is released as idle, its next acquirer claims it.';
END
$$;
REVOKE ALL ON FUNCTION compute._raise_unclaimed(text) FROM PUBLIC;
COMMENT ON FUNCTION compute._raise_unclaimed(text) IS
    'Private: 403 (PT403), the project has no owner and a live assignment: only an operator may assign it.';

-- Locks the user's row (creating it): one user's acquisitions queue here while they count and assign.
CREATE OR REPLACE FUNCTION compute._lock_owner(p_user text, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
BEGIN
    PERFORM FROM compute.owners o WHERE o.user_id = p_user FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        INSERT INTO compute.owners (user_id, first_seen_at) VALUES (p_user, p_now) ON CONFLICT DO NOTHING;
        PERFORM FROM compute.owners o WHERE o.user_id = p_user FOR NO KEY UPDATE;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION compute._lock_owner(text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION compute._lock_owner(text, timestamptz) IS
    'Private: locks (FOR NO KEY UPDATE) the user''s row of compute.owners, creating it; serialises one user''s assignments.';

-- Raises 429 with Retry-After: the caller already runs as many projects as one user may. Not the
-- cluster's 503: free nodes may remain, for other users.
CREATE OR REPLACE FUNCTION compute._raise_user_cap(p_running bigint, p_settings compute.settings)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
BEGIN
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = json_build_object(
            'code', 'PT429',
            'message', format('You already run %s projects, the most one user may run at once. Please come back later.', p_running),
            'details', format('max_running_projects_per_user is %s; free compute nodes remain for other users.',
                              p_settings.max_running_projects_per_user),
            'hint', format('Your projects are released after %s s without use; retry in %s seconds, or use a running one.',
                           extract(epoch FROM p_settings.idle_release_after)::integer, p_settings.retry_after_seconds))::text,
        DETAIL = json_build_object('status', 429,
                                   'headers', json_build_object('Retry-After', p_settings.retry_after_seconds::text))::text;
END
$$;
REVOKE ALL ON FUNCTION compute._raise_user_cap(bigint, compute.settings) FROM PUBLIC;
COMMENT ON FUNCTION compute._raise_user_cap(bigint, compute.settings) IS
    'Private: 429 with Retry-After, the caller runs max_running_projects_per_user projects already (RAISE SQLSTATE PGRST).';

------------------------------------------------------------------------------------------------------
-- app_user: the control plane computing for a user's project
------------------------------------------------------------------------------------------------------

-- The node a project computes on: its live node, else a free one assigned now, else 503 (come back later).
CREATE OR REPLACE FUNCTION api.acquire_node(project_id text)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now      timestamptz := compute._now();
    v_settings compute.settings := compute._settings();
    v_project  compute.projects;
    v_current  record;
    v_slot     integer;
    v_node     record;
    v_epoch    bigint;
    v_ended    bigint;
    v_running  bigint;
    v_alive    bigint;
    v_retry_at timestamptz;
    v_user     text;
    v_owner    text;
    v_mine     bigint;
BEGIN
    PERFORM compute._check_name(project_id, 'project_id');   -- unqualified: no table in scope
    v_user := auth.current_user_id();                          -- 401 without a user
    -- 0. Whose project. compute learns of a project only through acquire_node, so the first user to
    --    acquire it claims it (owner_id): the user who opens a project first is the one who made it, as
    --    its user expects, and nobody else can then hold it, fill slots with it or keep it from going
    --    idle. Another user's project is 403, answered before anything is locked or written; only an
    --    operator changes an owner (set_project_owner), and the check under the lock below decides.
    SELECT p.owner_id INTO v_owner FROM compute.projects p WHERE p.id = acquire_node.project_id;
    IF v_owner <> v_user THEN
        PERFORM compute._raise_not_owner(acquire_node.project_id);
    END IF;
    -- 1. Lock the project (creating it, claiming it): concurrent calls for one project queue here and
    --    converge. A project without an owner is claimed only while it has no assignment. One that runs
    --    (a project acquired before migration 0013, or whose owner an operator cleared) is in use by a
    --    user nobody recorded: handing it to the next acquirer would give a stranger who knows its id
    --    that user's live node, and lock the real user out for good (403). So it stays nobody's and the
    --    caller gets 403 "an operator must assign it" (set_project_owner); the refusal rolls back the
    --    last_used_at bump, so the run ends at the idle release unless an operator assigns it first.
    --    An idle one runs nothing of anyone's: its next acquirer claims it (an operator can reassign a
    --    squatted id). The EXISTS reads the statement's snapshot: an assignment committed while we
    --    waited for the lock came from an acquire_node that had claimed the row, so coalesce keeps that
    --    owner.
    INSERT INTO compute.projects AS p (id, owner_id, first_seen_at, last_used_at)
    VALUES (acquire_node.project_id, v_user, v_now, v_now)
    ON CONFLICT (id) DO UPDATE SET
        last_used_at = greatest(p.last_used_at, excluded.last_used_at),
        owner_id = coalesce(p.owner_id,
                            CASE WHEN NOT EXISTS (SELECT FROM compute.assignments a WHERE a.project_id = p.id)
                                 THEN excluded.owner_id END)
    RETURNING * INTO v_project;
    IF v_project.owner_id IS NULL THEN      -- nobody's and running: an operator's decision
        PERFORM compute._raise_unclaimed(acquire_node.project_id);
    ELSIF v_project.owner_id <> v_user THEN   -- claimed (or reassigned) between the read and the lock
        PERFORM compute._raise_not_owner(acquire_node.project_id);
    END IF;

    -- 2. Above the memory limit (its node's report): refused, with the numbers (the error rolls back the
    --    last_used_at bump), while it still runs and until over_limit_retry_after after the report. Later
    --    it runs again on probation (step 4 clears the old figure; its node measures it anew).
    IF v_project.memory_mb > v_settings.memory_limit_mb THEN
        v_retry_at := v_project.memory_reported_at + v_settings.over_limit_retry_after;
        IF v_retry_at > v_now OR EXISTS (SELECT FROM compute.assignments a WHERE a.project_id = v_project.id) THEN
            RAISE EXCEPTION USING ERRCODE = 'PT413',
                MESSAGE = format('project %s uses %s MB of memory, above the limit of %s MB per project',
                                 quote_literal(v_project.id), v_project.memory_mb, v_settings.memory_limit_mb),
                DETAIL = format('Reported by its compute node at %s (above the limit since %s); the node stops it. It may be started again, and measured anew, from %s.',
                                v_project.memory_reported_at, coalesce(v_project.over_limit_since, v_project.memory_reported_at),
                                greatest(v_retry_at, v_now)),
                HINT = format('Reduce the project''s data to less than %s MB and retry from %s (if it is still above the limit it is stopped again at once), or ask an operator to raise the limit.',
                              v_settings.memory_limit_mb, greatest(v_retry_at, v_now));
        END IF;
    END IF;

    -- 3. Its live assignment, if the node is alive (fresh lease of the same registration).
    SELECT a.epoch, a.node_id, a.assigned_at, n.name AS node, n.state,
           (l.epoch = a.node_epoch AND l.last_heartbeat_at >= v_now - v_settings.heartbeat_timeout) AS alive
    INTO v_current
    FROM compute.assignments a
    JOIN compute.nodes n ON n.id = a.node_id
    LEFT JOIN compute.node_leases l ON l.node_id = a.node_id
    WHERE a.project_id = acquire_node.project_id;
    IF FOUND THEN
        IF coalesce(v_current.alive, false) THEN
            RETURN json_build_object('project_id', v_project.id, 'node', v_current.node, 'node_id', v_current.node_id,
                                     'epoch', v_current.epoch, 'assigned_at', v_current.assigned_at, 'new', false,
                                     'previous_epoch', NULL);
        END IF;
        -- The node died (or left, or registered again): end it; a new node below, with a greater epoch.
        PERFORM compute._end_assignment(v_current.epoch, 'node_dead');
        v_ended := v_current.epoch;
    END IF;

    -- 4. The user's own cap, then a slot under the cluster's cap, then a free node. The user's row is
    --    locked first: one user's concurrent acquisitions queue there (after their project locks), so
    --    the count cannot be raced past the cap; other users never wait for it.
    PERFORM compute._lock_owner(v_user, v_now);
    SELECT count(*) INTO v_mine FROM compute.assignments a JOIN compute.projects p ON p.id = a.project_id
    WHERE p.owner_id = v_user;
    IF v_mine >= v_settings.max_running_projects_per_user AND compute._end_dead_assignments() > 0 THEN
        SELECT count(*) INTO v_mine FROM compute.assignments a JOIN compute.projects p ON p.id = a.project_id
        WHERE p.owner_id = v_user;
    END IF;
    IF v_mine >= v_settings.max_running_projects_per_user THEN
        PERFORM compute._raise_user_cap(v_mine, v_settings);
    END IF;
    v_slot := compute._take_slot(v_settings.max_running_projects);
    IF v_slot IS NULL AND compute._end_dead_assignments() > 0 THEN
        v_slot := compute._take_slot(v_settings.max_running_projects);
    END IF;
    IF v_slot IS NULL THEN
        SELECT count(*) INTO v_running FROM compute.assignments;
        PERFORM compute._raise_busy(format('Running projects: %s; the cluster runs at most %s at once.',
                                           v_running, v_settings.max_running_projects));
    END IF;
    SELECT t.o_node_id AS id, t.o_node_epoch AS epoch INTO v_node FROM compute._take_node() t;
    IF v_node.id IS NULL THEN
        SELECT count(*) INTO v_running FROM compute.assignments;
        SELECT count(*) INTO v_alive FROM compute.nodes n JOIN compute.node_leases l ON l.node_id = n.id
        WHERE n.state = 'live' AND l.last_heartbeat_at >= v_now - v_settings.heartbeat_timeout;
        PERFORM compute._raise_busy(format('No free compute node: %s live node(s) with a fresh heartbeat, all running a project (running projects: %s).',
                                           v_alive, v_running));
    END IF;
    INSERT INTO compute.assignments (project_id, node_id, node_epoch, slot_no, assigned_at)
    VALUES (v_project.id, v_node.id, v_node.epoch, v_slot, v_now)
    RETURNING epoch INTO v_epoch;
    -- A new run: the memory figure of the last one expires (a project once above the limit is measured
    -- anew: probation).
    UPDATE compute.projects p SET memory_mb = NULL, memory_reported_at = NULL, over_limit_since = NULL
    WHERE p.id = v_project.id AND p.memory_mb IS NOT NULL;
    RETURN json_build_object('project_id', v_project.id, 'node', (SELECT n.name FROM compute.nodes n WHERE n.id = v_node.id),
                             'node_id', v_node.id, 'epoch', v_epoch, 'assigned_at', v_now, 'new', true,
                             'previous_epoch', v_ended);
END
$$;
REVOKE ALL ON FUNCTION api.acquire_node(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.acquire_node(text) TO app_user;
COMMENT ON FUNCTION api.acquire_node(text) IS
    'The compute node of a project: {project_id, node, node_id, epoch, assigned_at, new, previous_epoch}. Its live node, else a free one (new epoch, greater than any before). A project is its first acquirer''s (or whom an operator assigned it to): 403 for another user''s, and for a running project without an owner (an operator must assign it); 429 + Retry-After when the caller already runs max_running_projects_per_user projects; 413 above the memory limit (until over_limit_retry_seconds after its node''s report; then it runs again, measured anew); 503 + Retry-After when all nodes are busy; 400 bad project_id.';

------------------------------------------------------------------------------------------------------
-- worker: node agents
------------------------------------------------------------------------------------------------------

-- Registers a node (or registers it again after a restart or leaving): a new epoch, no projects.
CREATE OR REPLACE FUNCTION api.register_node(name text, memory_mb integer)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now      timestamptz := compute._now();
    v_settings compute.settings := compute._settings();
    v_node     compute.nodes;
    v_epoch    bigint;
    v_ended    text[];
BEGIN
    PERFORM compute._check_name(name, 'name');
    PERFORM auth.require_agent('node', register_node.name);   -- only the node's own agent (or an operator)
    IF register_node.memory_mb IS NULL OR register_node.memory_mb <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('memory_mb must be a positive integer, got %s', coalesce(register_node.memory_mb::text, 'null')),
            HINT = 'Send the node''s memory capacity in MB, for example 8192.';
    END IF;
    -- Lock or create the node row (FOR NO KEY UPDATE, not ON CONFLICT's FOR UPDATE: see the header).
    SELECT * INTO v_node FROM compute.nodes n WHERE n.name = register_node.name FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        BEGIN
            INSERT INTO compute.nodes (name, memory_mb, registered_at)
            VALUES (register_node.name, register_node.memory_mb, v_now) RETURNING * INTO v_node;
        EXCEPTION WHEN unique_violation THEN   -- registered concurrently under the same name
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('compute node %s is being registered by another call', quote_literal(register_node.name)),
                HINT = 'Register again; the latest registration wins.';
        END;
    ELSE
        -- Draining survives a restart (the operator's decision); a node that left comes back live.
        UPDATE compute.nodes n
        SET memory_mb = register_node.memory_mb, registered_at = v_now, left_at = NULL,
            state = CASE WHEN n.state = 'draining' THEN 'draining'::compute.node_state ELSE 'live' END
        WHERE n.id = v_node.id RETURNING * INTO v_node;
    END IF;
    -- A new epoch: the old registration's calls are now stale (409).
    v_epoch := nextval('compute.epochs');
    INSERT INTO compute.node_leases AS l (node_id, epoch, last_heartbeat_at) VALUES (v_node.id, v_epoch, v_now)
    ON CONFLICT (node_id) DO UPDATE SET epoch = excluded.epoch, last_heartbeat_at = excluded.last_heartbeat_at;
    -- It starts empty: projects of the old registration get a new node on their next acquire_node.
    v_ended := compute._end_node_assignments(v_node.id, 'node_restarted');
    RETURN json_build_object('node', v_node.name, 'node_id', v_node.id, 'epoch', v_epoch, 'state', v_node.state,
                             'memory_mb', v_node.memory_mb, 'registered_at', v_now,
                             'heartbeat_timeout_seconds', extract(epoch FROM v_settings.heartbeat_timeout)::integer,
                             'released_projects', v_ended);
END
$$;
REVOKE ALL ON FUNCTION api.register_node(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.register_node(text, integer) TO worker;
COMMENT ON FUNCTION api.register_node(text, integer) IS
    'Node agent: registers a node (memory_mb capacity); returns {node, node_id, epoch, state, memory_mb, registered_at, heartbeat_timeout_seconds, released_projects}. Every registration gets a new epoch and starts without projects. 400 bad arguments.';

-- A node's heartbeat: renews its lease and records each project's memory, {project_id: memory_mb}.
CREATE OR REPLACE FUNCTION api.node_heartbeat(node text, epoch bigint, usage jsonb DEFAULT '{}')
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now      timestamptz := compute._now();
    v_settings compute.settings := compute._settings();
    v_node_id  bigint;
    v_state    compute.node_state;
    v_bad      text;
    v_stop     text[];
    v_over     json;
    v_ending   bigint[];
BEGIN
    PERFORM compute._check_name(node, 'node');
    -- One project per node: a usage report is a few hundred bytes; 64 KiB leaves room for the stale
    -- projects a restarted agent may still report, and keeps a heartbeat cheap (docs/limits.md).
    PERFORM auth.check_json(usage, 'usage', 65536);
    PERFORM auth.require_agent('node', node_heartbeat.node);
    IF node_heartbeat.usage IS NULL OR jsonb_typeof(node_heartbeat.usage) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'usage must be a JSON object {project_id: memory_mb}',
            HINT = 'For example {"project-1": 1200}; {} when the node runs no project.';
    END IF;
    SELECT u.key INTO v_bad FROM jsonb_each(node_heartbeat.usage) u
    WHERE jsonb_typeof(u.value) <> 'number' OR u.value::text !~ '^[0-9]{1,9}$' LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('usage of project %s must be a non-negative integer (MB)', quote_literal(v_bad)),
            HINT = 'Send {project_id: memory_mb} with whole megabytes.';
    END IF;
    -- Renew the lease: only the current epoch, only before it expired (a dead node stays dead). A
    -- concurrent registration or leave changes or removes this row first; the re-check then fails.
    UPDATE compute.node_leases l SET last_heartbeat_at = greatest(l.last_heartbeat_at, v_now)
    FROM compute.nodes n
    WHERE n.name = node_heartbeat.node AND l.node_id = n.id AND l.epoch = node_heartbeat.epoch
      AND l.last_heartbeat_at >= v_now - v_settings.heartbeat_timeout
    RETURNING n.id, n.state INTO v_node_id, v_state;
    IF v_node_id IS NULL THEN
        PERFORM compute._raise_stale(node_heartbeat.node, node_heartbeat.epoch);
    END IF;
    -- Memory of the projects this registration serves; marked while above the limit.
    WITH reported AS (
        SELECT u.key AS project_id, u.value::text::integer AS memory_mb
        FROM jsonb_each(node_heartbeat.usage) u
        JOIN compute.assignments a ON a.project_id = u.key AND a.node_id = v_node_id AND a.node_epoch = node_heartbeat.epoch
    ), projects AS (
        UPDATE compute.projects p
        SET memory_mb = r.memory_mb, memory_reported_at = v_now,
            over_limit_since = CASE WHEN r.memory_mb > v_settings.memory_limit_mb
                                    THEN coalesce(p.over_limit_since, v_now) END
        FROM reported r WHERE p.id = r.project_id
        RETURNING p.id
    )
    UPDATE compute.assignments a SET peak_memory_mb = greatest(a.peak_memory_mb, r.memory_mb)
    FROM reported r JOIN projects p ON p.id = r.project_id
    WHERE a.project_id = r.project_id;
    -- Its projects above the limit (reported now, or an operator lowered the limit): listed in over_limit.
    -- The ones reported now (their rows are locked by the update above) end now, reason over_limit: the
    -- node stops them (they fall into `stop` below) and their node and slot are free for others at once.
    SELECT coalesce(json_agg(json_build_object('project_id', p.id, 'memory_mb', p.memory_mb) ORDER BY p.id), '[]'),
           array_agg(a.epoch ORDER BY a.project_id) FILTER (WHERE node_heartbeat.usage ? a.project_id)
    INTO v_over, v_ending
    FROM compute.assignments a JOIN compute.projects p ON p.id = a.project_id
    WHERE a.node_id = v_node_id AND p.memory_mb > v_settings.memory_limit_mb;
    PERFORM compute._end_assignment(e, 'over_limit') FROM unnest(v_ending) e;
    -- Reported projects that are not this registration's: the node must stop serving them.
    SELECT array_agg(u.key ORDER BY u.key) INTO v_stop FROM jsonb_object_keys(node_heartbeat.usage) u(key)
    WHERE NOT EXISTS (SELECT FROM compute.assignments a
                      WHERE a.project_id = u.key AND a.node_id = v_node_id AND a.node_epoch = node_heartbeat.epoch);
    RETURN json_build_object('node', node_heartbeat.node, 'epoch', node_heartbeat.epoch, 'state', v_state,
                             'heartbeat_at', v_now, 'projects', compute._node_projects(v_node_id),
                             'stop', coalesce(v_stop, '{}'), 'over_limit', v_over,
                             'memory_limit_mb', v_settings.memory_limit_mb);
END
$$;
REVOKE ALL ON FUNCTION api.node_heartbeat(text, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.node_heartbeat(text, bigint, jsonb) TO worker;
COMMENT ON FUNCTION api.node_heartbeat(text, bigint, jsonb) IS
    'Node agent, about every 15 s: renews the lease and records usage {project_id: memory_mb}; a project reported above the memory limit is stopped (its assignment ends). Returns {node, epoch, state, heartbeat_at, projects [{project_id, epoch}], stop [project ids to stop serving], over_limit, memory_limit_mb}. 409 stale epoch, expired lease or left (changes nothing: register again); 404 unknown node.';

-- A node leaves the cluster gracefully: its projects get new nodes on their next acquire_node at once.
CREATE OR REPLACE FUNCTION api.leave_node(node text, epoch bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_node  compute.nodes;
    v_ended text[];
BEGIN
    PERFORM compute._check_name(node, 'node');
    PERFORM auth.require_agent('node', leave_node.node);
    v_node := compute._lock_node(leave_node.node);
    -- Only the current registration may leave (an expired lease may: leaving is always safe).
    DELETE FROM compute.node_leases l WHERE l.node_id = v_node.id AND l.epoch = leave_node.epoch;
    IF NOT FOUND THEN
        PERFORM compute._raise_stale(leave_node.node, leave_node.epoch);
    END IF;
    v_ended := compute._end_node_assignments(v_node.id, 'node_left');
    UPDATE compute.nodes n SET state = 'left', left_at = compute._now() WHERE n.id = v_node.id;
    RETURN json_build_object('node', v_node.name, 'epoch', leave_node.epoch, 'state', 'left',
                             'released_projects', v_ended);
END
$$;
REVOKE ALL ON FUNCTION api.leave_node(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.leave_node(text, bigint) TO worker;
COMMENT ON FUNCTION api.leave_node(text, bigint) IS
    'Node agent: leaves the cluster; its assignments end now. Returns {node, epoch, state, released_projects}. 409 stale epoch or already left; 404 unknown node.';

------------------------------------------------------------------------------------------------------
-- operator
------------------------------------------------------------------------------------------------------

-- Drains a node: it takes no new projects; returns the projects still on it (they stay until released).
CREATE OR REPLACE FUNCTION api.drain_node(node text)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_node compute.nodes;
BEGIN
    PERFORM compute._check_name(node, 'node');
    v_node := compute._lock_node(drain_node.node);
    IF v_node.state = 'left' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('compute node %s has left the cluster', quote_literal(drain_node.node)),
            HINT = 'Nothing to drain.';
    END IF;
    UPDATE compute.nodes n SET state = 'draining' WHERE n.id = v_node.id;
    RETURN json_build_object('node', v_node.name, 'state', 'draining', 'projects', compute._node_projects(v_node.id));
END
$$;
REVOKE ALL ON FUNCTION api.drain_node(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.drain_node(text) TO operator;
COMMENT ON FUNCTION api.drain_node(text) IS
    'Operator: the node takes no new projects; returns {node, state, projects} still on it (released when idle, or when it leaves). 404 unknown; 409 left.';

-- Ends the assignments of projects idle longer than the configured time, and those on dead nodes.
CREATE OR REPLACE FUNCTION api.release_idle_projects()
RETURNS TABLE (project_id text, node text, epoch bigint, reason text, last_used_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_now      timestamptz := compute._now();
    v_settings compute.settings := compute._settings();
    v_row      record;
BEGIN
    -- Projects being acquired right now are skipped (SKIP LOCKED): they are not idle.
    FOR v_row IN
        SELECT a.epoch, a.project_id, n.name, p.last_used_at,
               CASE WHEN l.node_id IS NULL OR l.epoch <> a.node_epoch
                         OR l.last_heartbeat_at < v_now - v_settings.heartbeat_timeout
                    THEN 'node_dead' ELSE 'idle' END::compute.end_reason AS reason
        FROM compute.assignments a
        JOIN compute.projects p ON p.id = a.project_id
        JOIN compute.nodes n ON n.id = a.node_id
        LEFT JOIN compute.node_leases l ON l.node_id = a.node_id
        WHERE p.last_used_at < v_now - v_settings.idle_release_after
           OR l.node_id IS NULL OR l.epoch <> a.node_epoch
           OR l.last_heartbeat_at < v_now - v_settings.heartbeat_timeout
        ORDER BY a.project_id
        FOR NO KEY UPDATE OF p SKIP LOCKED
    LOOP
        IF compute._end_assignment(v_row.epoch, v_row.reason) THEN
            project_id := v_row.project_id; node := v_row.name; epoch := v_row.epoch;
            reason := v_row.reason::text; last_used_at := v_row.last_used_at;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION api.release_idle_projects() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.release_idle_projects() TO operator;
COMMENT ON FUNCTION api.release_idle_projects() IS
    'Operator (periodic job): ends assignments of projects idle longer than idle_release_seconds (reason idle) and on dead nodes (node_dead); returns them.';

-- Nodes an autoscaler may remove: idle live nodes beyond the spare count (longest idle and largest
-- past project first), idle draining nodes, and dead nodes.
CREATE OR REPLACE FUNCTION api.surplus_idle_nodes()
RETURNS TABLE (node text, node_id bigint, state text, reason text, memory_mb integer,
               idle_since timestamptz, last_peak_memory_mb integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
    WITH s AS (SELECT * FROM compute._settings()),
    candidates AS (
        SELECT n.id, n.name, n.state, n.memory_mb,
               CASE WHEN l.last_heartbeat_at < compute._now() - s.heartbeat_timeout THEN 'dead'
                    WHEN n.state = 'draining' THEN 'drained'
                    ELSE 'idle' END AS reason,
               greatest(n.registered_at, h.ended_at) AS idle_since,
               h.peak_memory_mb
        FROM compute.nodes n
        JOIN compute.node_leases l ON l.node_id = n.id
        CROSS JOIN s
        LEFT JOIN LATERAL (SELECT ah.ended_at, ah.peak_memory_mb FROM compute.assignment_history ah
                           WHERE ah.node_id = n.id ORDER BY ah.ended_at DESC LIMIT 1) h ON true
        WHERE NOT EXISTS (SELECT FROM compute.assignments a WHERE a.node_id = n.id)
           OR l.last_heartbeat_at < compute._now() - s.heartbeat_timeout
    ),
    ranked AS (
        -- Idle live nodes: keep the `spare_nodes` most recently active ones; the rest, pods that grew
        -- largest and idle longest first, are surplus.
        SELECT c.*, row_number() OVER (PARTITION BY c.reason
                                       ORDER BY coalesce(c.peak_memory_mb, 0), c.idle_since DESC, c.id DESC) AS keep_rank
        FROM candidates c
    )
    SELECT r.name, r.id, r.state::text, r.reason, r.memory_mb, r.idle_since, r.peak_memory_mb
    FROM ranked r CROSS JOIN s
    WHERE r.reason <> 'idle' OR r.keep_rank > s.spare_nodes
    ORDER BY r.reason = 'idle', coalesce(r.peak_memory_mb, 0) DESC, r.idle_since, r.id
$$;
REVOKE ALL ON FUNCTION api.surplus_idle_nodes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.surplus_idle_nodes() TO operator;
COMMENT ON FUNCTION api.surplus_idle_nodes() IS
    'Operator/autoscaler: nodes to remove: dead ones, drained ones without projects, and idle live ones beyond spare_nodes (largest last project and longest idle first).';

-- Every registered node with its lease and project, by name.
CREATE OR REPLACE FUNCTION api.list_compute_nodes()
RETURNS TABLE (node text, node_id bigint, state text, alive boolean, memory_mb integer, epoch bigint,
               registered_at timestamptz, last_heartbeat_at timestamptz, project_id text, assignment_epoch bigint,
               project_memory_mb integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT n.name, n.id, n.state::text,
           coalesce(l.last_heartbeat_at >= compute._now() - (compute._settings()).heartbeat_timeout, false),
           n.memory_mb, l.epoch, n.registered_at, l.last_heartbeat_at, a.project_id, a.epoch, p.memory_mb
    FROM compute.nodes n
    LEFT JOIN compute.node_leases l ON l.node_id = n.id
    LEFT JOIN compute.assignments a ON a.node_id = n.id
    LEFT JOIN compute.projects p ON p.id = a.project_id
    ORDER BY n.name
$$;
REVOKE ALL ON FUNCTION api.list_compute_nodes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_compute_nodes() TO operator;
COMMENT ON FUNCTION api.list_compute_nodes() IS
    'Operator: every node with state, alive (lease fresh), epoch, heartbeat time, and its project with memory.';

-- The compute settings.
CREATE OR REPLACE FUNCTION api.compute_settings()
RETURNS json
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$ SELECT compute._settings_json(compute._settings()) $$;
REVOKE ALL ON FUNCTION api.compute_settings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.compute_settings() TO operator;
COMMENT ON FUNCTION api.compute_settings() IS
    'Operator: {memory_limit_mb, heartbeat_timeout_seconds, idle_release_seconds, max_running_projects, spare_nodes, retry_after_seconds, over_limit_retry_seconds, max_running_projects_per_user}.';

-- Changes the compute settings given (others stay); returns them all.
CREATE OR REPLACE FUNCTION api.set_compute_settings(
    memory_limit_mb integer DEFAULT NULL, heartbeat_timeout_seconds integer DEFAULT NULL,
    idle_release_seconds integer DEFAULT NULL, max_running_projects integer DEFAULT NULL,
    spare_nodes integer DEFAULT NULL, retry_after_seconds integer DEFAULT NULL,
    over_limit_retry_seconds integer DEFAULT NULL, max_running_projects_per_user integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_settings compute.settings;
    v_epoch    bigint;
    v_slot     integer;
BEGIN
    BEGIN
        UPDATE compute.settings s SET
            memory_limit_mb = coalesce(set_compute_settings.memory_limit_mb, s.memory_limit_mb),
            heartbeat_timeout = coalesce(make_interval(secs => set_compute_settings.heartbeat_timeout_seconds), s.heartbeat_timeout),
            idle_release_after = coalesce(make_interval(secs => set_compute_settings.idle_release_seconds), s.idle_release_after),
            max_running_projects = coalesce(set_compute_settings.max_running_projects, s.max_running_projects),
            spare_nodes = coalesce(set_compute_settings.spare_nodes, s.spare_nodes),
            retry_after_seconds = coalesce(set_compute_settings.retry_after_seconds, s.retry_after_seconds),
            over_limit_retry_after = coalesce(make_interval(secs => set_compute_settings.over_limit_retry_seconds), s.over_limit_retry_after),
            max_running_projects_per_user = coalesce(set_compute_settings.max_running_projects_per_user, s.max_running_projects_per_user)
        RETURNING * INTO v_settings;
    EXCEPTION WHEN check_violation THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid compute setting',
            DETAIL = 'Memory limit, timeouts, Retry-After and over_limit_retry_seconds must be positive; max_running_projects and max_running_projects_per_user 0 to 100000; spare_nodes 0 or more.',
            HINT = 'Send only the settings to change.';
    END;
    -- Enough slot rows for the cap; slots above it are not handed out.
    INSERT INTO compute.slots (slot_no) SELECT generate_series(1, v_settings.max_running_projects)
    ON CONFLICT DO NOTHING;
    -- A lowered cap: running projects holding slots above it move into free slots under it, so the cap
    -- holds at once when no more than the new cap are running. Otherwise the rest keep their slots (they
    -- are not stopped) and no new project starts until the count falls under the cap.
    FOR v_epoch IN SELECT a.epoch FROM compute.assignments a WHERE a.slot_no > v_settings.max_running_projects
                   ORDER BY a.slot_no DESC LOOP
        v_slot := compute._take_slot(v_settings.max_running_projects);
        EXIT WHEN v_slot IS NULL;
        UPDATE compute.assignments a SET slot_no = v_slot WHERE a.epoch = v_epoch;
    END LOOP;
    -- The mark follows the limit.
    UPDATE compute.projects p
    SET over_limit_since = CASE WHEN p.memory_mb > v_settings.memory_limit_mb
                                THEN coalesce(p.over_limit_since, compute._now()) END
    WHERE (p.over_limit_since IS NOT NULL) <> coalesce(p.memory_mb > v_settings.memory_limit_mb, false);
    RETURN compute._settings_json(v_settings);
END
$$;
REVOKE ALL ON FUNCTION api.set_compute_settings(integer, integer, integer, integer, integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.set_compute_settings(integer, integer, integer, integer, integer, integer, integer, integer) TO operator;
COMMENT ON FUNCTION api.set_compute_settings(integer, integer, integer, integer, integer, integer, integer, integer) IS
    'Operator: changes the given settings (memory limit MB, heartbeat timeout and idle release in seconds, max running projects, spare nodes, Retry-After seconds, over_limit_retry_seconds: how long a project reported above the limit is refused before it runs again on probation, max_running_projects_per_user); returns them all. A lowered cap moves running projects into the slots under it; none is stopped. 400 invalid values.';

-- Sets or clears (NULL) a project's owner: the operator's answer to a project that ran before owners
-- (acquire_node refuses to hand it to anyone while it runs) and to a squatted id (someone else
-- acquired it first). The running assignment stays: the new owner gets its live node, the former one
-- 403. The new owner's running projects may then exceed max_running_projects_per_user; the cap only
-- gates new assignments, and this is the operator's decision. Cleared, a running project is claimable
-- by nobody, an idle one by its next acquirer. Unknown project: 404 (an id is known once acquired).
CREATE OR REPLACE FUNCTION api.set_project_owner(project_id text, owner text)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_previous text;
BEGIN
    PERFORM compute._check_name(project_id, 'project_id');
    -- A user id (the token's sub), as workspaces.owner: 1 to 255 characters; NULL clears.
    PERFORM auth.check_text(owner, 'owner', 255);
    IF set_project_owner.owner = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'owner must be a user id of 1 to 255 characters, or null',
            DETAIL = 'Got an empty string.',
            HINT = 'Send the user''s id (the "sub" of their tokens), or null to clear the owner.';
    END IF;
    -- The project row lock: acquire_node of the project waits, and then sees the new owner.
    SELECT p.owner_id INTO v_previous FROM compute.projects p
    WHERE p.id = set_project_owner.project_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('no compute project %s', quote_literal(set_project_owner.project_id)),
            DETAIL = 'compute learns of a project when it is first acquired.',
            HINT = 'Check the project id; a project never acquired is claimed by its first acquirer.';
    END IF;
    UPDATE compute.projects p SET owner_id = set_project_owner.owner WHERE p.id = set_project_owner.project_id;
    RETURN json_build_object(
        'project_id', set_project_owner.project_id, 'owner', set_project_owner.owner, 'previous_owner', v_previous,
        'node', (SELECT n.name FROM compute.assignments a JOIN compute.nodes n ON n.id = a.node_id
                 WHERE a.project_id = set_project_owner.project_id));
END
$$;
REVOKE ALL ON FUNCTION api.set_project_owner(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.set_project_owner(text, text) TO operator;
COMMENT ON FUNCTION api.set_project_owner(text, text) IS
    'Operator: sets a project''s owner (a user id), or clears it (null); returns {project_id, owner, previous_owner, node} (node: where it runs now, kept). For projects from before owners (a running one is nobody''s to claim) and squatted ids. 404 unknown project; 400 empty or longer than 255 characters.';
