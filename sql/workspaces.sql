-- Workspaces API: the functions the gateway exposes over /rpc (schema api) for workspaces, the hosts
-- that run them and the host agents' tasks, and their private helpers (schema workspaces, names starting
-- with _). The build queue is in sql/builds.sql, the e-mail outbox in sql/notifications.sql; the three
-- share the schema workspaces (migrations/0006). Repeatable: re-applied on every migrate.
--
-- Who may call what (nothing is executable by PUBLIC):
--   app_user  create_workspace, list_workspaces, delete_workspace
--   worker    host agents: claim_host_task, report_task_success, report_task_failure, reconcile_host,
--             report_host_disk, each only for the host its token's `host` claim names (gateway token
--             --role worker --host H; auth.require_agent)
--   operator  register_host, add_host_image, set_host_availability, list_hosts
--
--
-- Placement (create_workspace): among available hosts holding the image with room for it, the one with
-- the least disk used, locked FOR NO KEY UPDATE SKIP LOCKED, and its disk_used raised by the image's size in
-- the same statement; so concurrent creations take different hosts and each sees the others' usage
-- once they commit. Only when every candidate is locked does it wait (for the best one), so "no host"
-- (503) is never a false alarm caused by busy rows.
--
-- Host agents' protocol: the agent of host H calls claim_host_task(H) in a loop; a task is a workspace
-- of H in PROVISIONING (create the container `container_name`), CLEANING (a creation failed: remove the
-- stale container: a failed creation is cleaned up before it is retried) or DELETING (remove
-- the container). It reports report_task_success(id, task_token, hostname, ip) or
-- report_task_failure(id, task_token, reason), with the token of its claim: a deletion or a later
-- claim makes it stale (409, nothing changes), so a late report cannot act on a task it no longer
-- holds. A claimed task is not handed out again for 5 minutes (the agent may have died). Creation gives up
-- after max_attempts (3) failures: FAILED. Periodically the agent lists its containers and calls
-- reconcile_host(H, names): READY workspaces whose container is gone become FAILED, DELETING ones whose
-- container is gone are deleted, and containers the database does not know (or knows as FAILED) are
-- returned for the agent to remove. Host agents may LISTEN on `host_tasks` (payload: the host name) and
-- poll as a backstop.
--
-- Errors (SQLSTATE -> HTTP): 22023 bad argument -> 400; PT401 no sub -> 401; PT404 unknown (or another
-- user's) workspace, build, project, image, host -> 404; PT409 wrong state, stale lease token, duplicate
-- name, idempotency key reused with other arguments -> 409; PGRST/503 with Retry-After when no host can
-- take a workspace (no host holds the image, all are unavailable or full) or the image is being built.
SET LOCAL ROLE platform_owner;

-- When a signature changes, DROP FUNCTION IF EXISTS the old one here, above its replacement.

------------------------------------------------------------------------------------------------------
-- Private helpers
------------------------------------------------------------------------------------------------------

-- The caller's user id is auth.current_user_id() (sql/00_auth.sql), shared with the other domains.
DROP FUNCTION IF EXISTS workspaces._current_user();

-- A workspace as the API returns it.
CREATE OR REPLACE FUNCTION workspaces._workspace_json(p_ws workspaces.workspaces)
RETURNS json
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT json_build_object(
        'workspace_id', p_ws.id, 'owner', p_ws.owner, 'project', p_ws.project_name,
        'parent_name', p_ws.parent_name, 'arch', p_ws.arch, 'host', p_ws.host_name,
        'hostname', p_ws.hostname, 'ip', host(p_ws.ip), 'state', p_ws.state,
        'created_at', p_ws.created_at)
$$;
REVOKE ALL ON FUNCTION workspaces._workspace_json(workspaces.workspaces) FROM PUBLIC;
COMMENT ON FUNCTION workspaces._workspace_json(workspaces.workspaces) IS 'Private: a workspace row as the JSON object the API returns.';

-- The id of the named host; PT404 if there is none.
CREATE OR REPLACE FUNCTION workspaces._host_id(p_name text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT h.id INTO v_id FROM workspaces.hosts h WHERE h.name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('host %s does not exist', coalesce(quote_literal(p_name), 'null')),
            HINT = 'An operator registers hosts with register_host.';
    END IF;
    RETURN v_id;
END
$$;
REVOKE ALL ON FUNCTION workspaces._host_id(text) FROM PUBLIC;
COMMENT ON FUNCTION workspaces._host_id(text) IS 'Private: the id of the named host; PT404 (404) if unknown.';

-- Takes p_gb of disk on the available host holding the image with the least disk used that has room;
-- returns its id, or null when there is none. Skips hosts locked by concurrent creations first, so
-- they spread; waits only when every candidate is locked, for the best one alone, and takes it if it
-- still fits once its holder commits (as vms._take_capacity does).
-- Never waits while holding a host row: a row locked for the re-check of its WHERE
-- and found no longer fitting stays locked in READ COMMITTED, so each attempt runs in a subtransaction
-- that is rolled back (letting such rows go) when it took nothing; otherwise two creations could each
-- hold a row the other waits for (a deadlock, answered 500). The lock is FOR NO KEY UPDATE, what the
-- UPDATE of disk_used needs: FOR UPDATE would also block the KEY SHARE locks that inserting rows
-- referencing the host takes (another workspace, host_images), for nothing.
CREATE OR REPLACE FUNCTION workspaces._take_disk(p_image_id bigint, p_gb integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_id   bigint;
    v_best bigint;
BEGIN
    FOR v_round IN 1..10 LOOP
        BEGIN
            WITH pick AS MATERIALIZED (
                SELECT h.id FROM workspaces.hosts h
                JOIN workspaces.host_images hi ON hi.host_id = h.id AND hi.image_id = p_image_id
                WHERE h.is_available AND h.disk_used + p_gb <= h.disk_capacity
                ORDER BY h.disk_used, h.id
                LIMIT 1
                FOR NO KEY UPDATE OF h SKIP LOCKED
            )
            UPDATE workspaces.hosts h SET disk_used = h.disk_used + p_gb FROM pick WHERE h.id = pick.id
            RETURNING h.id INTO v_id;
            IF v_id IS NOT NULL THEN
                RETURN v_id;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'WSRTY';     -- let go of rows locked for a failed re-check
        EXCEPTION WHEN SQLSTATE 'WSRTY' THEN
            NULL;
        END;
        -- Every fitting host is locked (or none fits): the best one regardless of locks.
        SELECT h.id INTO v_best FROM workspaces.hosts h
        JOIN workspaces.host_images hi ON hi.host_id = h.id AND hi.image_id = p_image_id
        WHERE h.is_available AND h.disk_used + p_gb <= h.disk_capacity
        ORDER BY h.disk_used, h.id
        LIMIT 1;
        IF v_best IS NULL THEN
            RETURN NULL;                                  -- no host has room
        END IF;
        BEGIN
            UPDATE workspaces.hosts h SET disk_used = h.disk_used + p_gb   -- waits for the holder, re-checks
            WHERE h.id = v_best AND h.is_available AND h.disk_used + p_gb <= h.disk_capacity
            RETURNING h.id INTO v_id;
            IF v_id IS NOT NULL THEN
                RETURN v_id;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'WSRTY';     -- it filled up meanwhile: let go of it, look again
        EXCEPTION WHEN SQLSTATE 'WSRTY' THEN
            NULL;
        END;
    END LOOP;
    RETURN NULL;     -- ten rounds of others taking what we waited for: no host right now (503, retry)
END
$$;
REVOKE ALL ON FUNCTION workspaces._take_disk(bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION workspaces._take_disk(bigint, integer) IS
    'Private: takes disk on the least used available host holding the image (FOR NO KEY UPDATE SKIP LOCKED, then waiting for the best alone, holding nothing); its id or null.';

-- Raises why no host can take a workspace of the image right now: 503 with Retry-After, and a message
-- that tells apart "no host holds it", "all unavailable" and "all full".
CREATE OR REPLACE FUNCTION workspaces._raise_no_host(p_image workspaces.images)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_holding   integer;
    v_available integer;
    v_message   text;
    v_details   text;
    v_hint      text;
BEGIN
    SELECT count(*), count(*) FILTER (WHERE h.is_available) INTO v_holding, v_available
    FROM workspaces.host_images hi JOIN workspaces.hosts h ON h.id = hi.host_id
    WHERE hi.image_id = p_image.id;
    IF v_holding = 0 THEN
        v_message := format('no host holds image %s (%s)', p_image.name, p_image.arch);
        v_details := 'The image exists but has not been distributed to any host yet.';
        v_hint := 'Retry later, or ask an operator to add the image to a host (add_host_image).';
    ELSIF v_available = 0 THEN
        v_message := format('every host holding image %s (%s) is unavailable', p_image.name, p_image.arch);
        v_details := format('%s host(s) hold the image; all are out of service.', v_holding);
        v_hint := 'Retry later; an operator can make a host available again (set_host_availability).';
    ELSE
        v_message := format('no host holding image %s (%s) has %s GB of free disk', p_image.name, p_image.arch,
                            p_image.workspace_gb);
        v_details := format('%s available host(s) hold the image; all are full.', v_available);
        v_hint := 'Retry later: disk returns as workspaces are deleted. Deleting one of yours frees room.';
    END IF;
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = json_build_object('code', 'PT503', 'message', v_message, 'details', v_details, 'hint', v_hint)::text,
        DETAIL = json_build_object('status', 503, 'headers', json_build_object('Retry-After', '30'))::text;
END
$$;
REVOKE ALL ON FUNCTION workspaces._raise_no_host(workspaces.images) FROM PUBLIC;
COMMENT ON FUNCTION workspaces._raise_no_host(workspaces.images) IS
    'Private: 503 + Retry-After saying why no host can take a workspace of the image (none holds it, unavailable, full).';

------------------------------------------------------------------------------------------------------
-- app_user: workspaces
------------------------------------------------------------------------------------------------------

-- Creates a workspace of the project for the caller: from the image named parent_name (default: the
-- project's most recently built image) for arch, on the least used host holding it; state PROVISIONING.
CREATE OR REPLACE FUNCTION api.create_workspace(project_name text, parent_name text DEFAULT NULL, arch text DEFAULT 'x86_64')
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_user    text := auth.current_user_id();
    v_project workspaces.projects;
    v_image   workspaces.images;
    v_host    bigint;
    v_ws      workspaces.workspaces;
BEGIN
    PERFORM auth.check_text(project_name, 'project_name', 200), auth.check_text(parent_name, 'parent_name', 200),
            auth.check_text(arch, 'arch', 32);
    IF create_workspace.project_name IS NULL OR create_workspace.arch IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'project_name and arch are required';
    END IF;
    SELECT p.* INTO v_project FROM workspaces.projects p WHERE p.name = create_workspace.project_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('project %s does not exist', quote_literal(create_workspace.project_name)),
            HINT = 'A project appears with its first image build (schedule_image_build).';
    END IF;
    SELECT i.* INTO v_image FROM workspaces.images i
    WHERE i.project_id = v_project.id AND i.arch = create_workspace.arch
      AND (create_workspace.parent_name IS NULL OR i.name = create_workspace.parent_name)
    ORDER BY i.status = 'READY' DESC, i.built_at DESC NULLS LAST, i.id DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('project %s has no image %sfor %s', quote_literal(v_project.name),
                             coalesce(quote_literal(create_workspace.parent_name) || ' ', ''), create_workspace.arch),
            HINT = 'Schedule a build of the image first (schedule_image_build).';
    END IF;
    IF v_image.status = 'BUILDING' THEN
        RAISE SQLSTATE 'PGRST' USING
            MESSAGE = json_build_object('code', 'PT503',
                'message', format('image %s (%s) is being built', v_image.name, v_image.arch),
                'details', 'The image has no successful build yet; one is queued or running.',
                'hint', 'Retry when the build has finished (you are e-mailed).')::text,
            DETAIL = json_build_object('status', 503, 'headers', json_build_object('Retry-After', '60'))::text;
    ELSIF v_image.status <> 'READY' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('image %s (%s) has not been built (%s)', v_image.name, v_image.arch, v_image.status),
            HINT = 'Schedule a build of the image (schedule_image_build) or retry its failed build (retry_build).';
    END IF;
    v_host := workspaces._take_disk(v_image.id, v_image.workspace_gb);
    IF v_host IS NULL THEN
        PERFORM workspaces._raise_no_host(v_image);
    END IF;
    INSERT INTO workspaces.workspaces (owner, project_id, project_name, image_id, parent_name, arch,
                                       host_id, host_name, disk_gb)
    SELECT v_user, v_project.id, v_project.name, v_image.id, create_workspace.parent_name, v_image.arch,
           h.id, h.name, v_image.workspace_gb
    FROM workspaces.hosts h WHERE h.id = v_host
    RETURNING * INTO v_ws;
    PERFORM pg_notify('host_tasks', v_ws.host_name);
    RETURN workspaces._workspace_json(v_ws);
END
$$;
REVOKE ALL ON FUNCTION api.create_workspace(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_workspace(text, text, text) TO app_user;
COMMENT ON FUNCTION api.create_workspace(text, text, text) IS
    'Creates a workspace (PROVISIONING) for the token''s user from the project''s image parent_name (default: latest built) for arch, on the least used host holding it. 404 unknown project or image; 409 image never built; 503 + Retry-After when being built or no host can take it (message says why).';

-- The caller's workspaces, oldest first. SECURITY INVOKER: reads workspaces.workspaces as app_user,
-- under its row level security policy, through the index (owner, id).
CREATE OR REPLACE FUNCTION api.list_workspaces()
RETURNS TABLE (workspace_id bigint, project text, parent_name text, arch text, host text, hostname text,
               ip text, state text, created_at timestamptz)
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT w.id, w.project_name, w.parent_name, w.arch, w.host_name, w.hostname, host(w.ip), w.state::text,
           w.created_at
    FROM workspaces.workspaces w
    WHERE w.owner = auth.current_user_id()
    ORDER BY w.id
$$;
REVOKE ALL ON FUNCTION api.list_workspaces() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_workspaces() TO app_user;
COMMENT ON FUNCTION api.list_workspaces() IS
    'The token''s user''s workspaces (id, project, parent_name, arch, host, hostname, ip, state, created_at), oldest first.';

-- Deletes one of the caller's workspaces: DELETING; the host agent removes the container and the row
-- goes (its disk returns to the host). Repeating the call while it is DELETING changes nothing.
CREATE OR REPLACE FUNCTION api.delete_workspace(workspace_id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_user text := auth.current_user_id();
    v_ws   workspaces.workspaces;
BEGIN
    UPDATE workspaces.workspaces w
    SET state = 'DELETING', updated_at = now(),
        task_claimed_at = CASE WHEN w.state = 'DELETING' THEN w.task_claimed_at END,
        -- A claim of the workspace's earlier task (a provision under way) ends here: its report is stale.
        task_token = CASE WHEN w.state = 'DELETING' THEN w.task_token END
    WHERE w.id = delete_workspace.workspace_id AND w.owner = v_user
    RETURNING * INTO v_ws;
    IF NOT FOUND THEN
        -- Unknown, or another user's: the same answer, so ids of others' workspaces reveal nothing.
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('workspace %s does not exist', coalesce(delete_workspace.workspace_id::text, 'null')),
            HINT = 'list_workspaces shows your workspaces.';
    END IF;
    PERFORM pg_notify('host_tasks', v_ws.host_name);
    RETURN workspaces._workspace_json(v_ws);
END
$$;
REVOKE ALL ON FUNCTION api.delete_workspace(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.delete_workspace(bigint) TO app_user;
COMMENT ON FUNCTION api.delete_workspace(bigint) IS
    'Deletes the caller''s workspace: DELETING until the host agent has removed its container, then gone. 404 unknown or another user''s.';

------------------------------------------------------------------------------------------------------
-- worker: host agents
------------------------------------------------------------------------------------------------------

-- The next task for the host's agent (oldest first), or null: {workspace_id, task_token, task: provision
-- | cleanup | delete, container_name, image, arch, change, attempts}. The task is not handed out again
-- for 5 minutes unless reported; its report must carry task_token (a later claim or a deletion makes it
-- stale: 409).
CREATE OR REPLACE FUNCTION api.claim_host_task(host text)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_host bigint;
    v_ws   workspaces.workspaces;
    v_img  workspaces.images;
BEGIN
    PERFORM auth.check_text(host, 'host', 200);
    -- Only the host's own agent (its token's host claim) takes the host's tasks.
    PERFORM auth.require_agent('host', claim_host_task.host);
    v_host := workspaces._host_id(claim_host_task.host);
    WITH next AS MATERIALIZED (
        SELECT w.id FROM workspaces.workspaces w
        WHERE w.host_id = v_host AND w.state IN ('PROVISIONING', 'CLEANING', 'DELETING')
          AND (w.task_claimed_at IS NULL OR w.task_claimed_at < now() - interval '5 minutes')
        ORDER BY w.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    UPDATE workspaces.workspaces w SET task_claimed_at = now(), task_token = gen_random_uuid(), updated_at = now()
    FROM next WHERE w.id = next.id
    RETURNING w.* INTO v_ws;
    IF v_ws.id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT i.* INTO v_img FROM workspaces.images i WHERE i.id = v_ws.image_id;
    RETURN json_build_object(
        'workspace_id', v_ws.id, 'task_token', v_ws.task_token,
        'task', CASE v_ws.state WHEN 'PROVISIONING' THEN 'provision' WHEN 'CLEANING' THEN 'cleanup' ELSE 'delete' END,
        'container_name', v_ws.container_name, 'image', v_img.name, 'arch', v_img.arch,
        'change', v_img.change_number, 'owner', v_ws.owner, 'attempts', v_ws.attempts);
END
$$;
REVOKE ALL ON FUNCTION api.claim_host_task(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.claim_host_task(text) TO worker;
COMMENT ON FUNCTION api.claim_host_task(text) IS
    'Host agent: the next provision / cleanup / delete task of the host (SKIP LOCKED) with its task_token, or null. 403 the token is not this host''s agent; 404 unknown host.';

-- The workspace whose task the caller reports, row locked, if `p_token` holds its current claim: PT404
-- unknown workspace; PT409 when it has no open task or the token is not the current claim's (the task
-- was claimed again after 5 minutes, or the workspace was deleted meanwhile): nothing may change then,
-- as a build's stale lease token changes nothing.
CREATE OR REPLACE FUNCTION workspaces._lock_task(p_workspace_id bigint, p_token uuid)
RETURNS workspaces.workspaces
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_ws workspaces.workspaces;
BEGIN
    IF p_token IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'task_token is required',
            HINT = 'Send the task_token that claim_host_task returned with the task.';
    END IF;
    SELECT w.* INTO v_ws FROM workspaces.workspaces w WHERE w.id = p_workspace_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('workspace %s does not exist', coalesce(p_workspace_id::text, 'null'));
    END IF;
    PERFORM auth.require_agent('host', v_ws.host_name);    -- only its host's agent reports on it
    IF v_ws.state NOT IN ('PROVISIONING', 'CLEANING', 'DELETING') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('workspace %s has no task to report (it is %s)', v_ws.id, v_ws.state),
            HINT = 'Do not report this task again; claim the next one.';
    END IF;
    IF v_ws.task_token IS DISTINCT FROM p_token THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('workspace %s''s task is not claimed with token %s', v_ws.id, p_token),
            DETAIL = format('The workspace is %s now: it was deleted, or its task was claimed again after your claim expired.', v_ws.state),
            HINT = 'Stop working on this task and do not report it; claim the next one (a delete task removes what you made).';
    END IF;
    RETURN v_ws;
END
$$;
REVOKE ALL ON FUNCTION workspaces._lock_task(bigint, uuid) FROM PUBLIC;
COMMENT ON FUNCTION workspaces._lock_task(bigint, uuid) IS
    'Private: the workspace whose task is reported, row locked; 400 no token, 404 unknown, 403 not its host''s agent, 409 no open task or stale token.';

DROP FUNCTION IF EXISTS api.report_task_success(bigint, text, inet);
DROP FUNCTION IF EXISTS api.report_task_failure(bigint, text);

-- The agent finished the workspace's task: provision -> READY (hostname and ip required); cleanup ->
-- PROVISIONING again (the retry, with a fresh state); delete -> the row goes and its disk returns.
-- Fenced by the claim's task_token (stale: 409, nothing changes).
CREATE OR REPLACE FUNCTION api.report_task_success(workspace_id bigint, task_token uuid, hostname text DEFAULT NULL,
                                                   ip inet DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_ws workspaces.workspaces;
BEGIN
    PERFORM auth.check_text(hostname, 'hostname', 253);
    v_ws := workspaces._lock_task(report_task_success.workspace_id, report_task_success.task_token);
    CASE v_ws.state
    WHEN 'PROVISIONING' THEN
        IF report_task_success.hostname IS NULL OR report_task_success.ip IS NULL
           OR length(report_task_success.hostname) NOT BETWEEN 1 AND 253 THEN
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'a provisioned workspace needs its hostname (1 to 253 characters) and ip',
                HINT = 'Send {"workspace_id": ..., "task_token": "...", "hostname": "...", "ip": "..."}.';
        END IF;
        UPDATE workspaces.workspaces w
        SET state = 'READY', hostname = report_task_success.hostname, ip = report_task_success.ip,
            task_claimed_at = NULL, task_token = NULL, last_error = NULL, updated_at = now()
        WHERE w.id = v_ws.id RETURNING * INTO v_ws;
    WHEN 'CLEANING' THEN
        UPDATE workspaces.workspaces w
        SET state = 'PROVISIONING', hostname = NULL, ip = NULL, task_claimed_at = NULL, task_token = NULL,
            updated_at = now()
        WHERE w.id = v_ws.id RETURNING * INTO v_ws;
        PERFORM pg_notify('host_tasks', v_ws.host_name);
    ELSE   -- DELETING
        DELETE FROM workspaces.workspaces w WHERE w.id = v_ws.id;
        UPDATE workspaces.hosts h SET disk_used = h.disk_used - v_ws.disk_gb WHERE h.id = v_ws.host_id;
        RETURN json_build_object('workspace_id', v_ws.id, 'state', 'DELETED');
    END CASE;
    RETURN workspaces._workspace_json(v_ws);
END
$$;
REVOKE ALL ON FUNCTION api.report_task_success(bigint, uuid, text, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.report_task_success(bigint, uuid, text, inet) TO worker;
COMMENT ON FUNCTION api.report_task_success(bigint, uuid, text, inet) IS
    'Host agent: the claimed task (task_token) succeeded. provision -> READY (hostname, ip required: 400), cleanup -> PROVISIONING, delete -> row removed. 404 unknown; 409 no open task or stale task_token (nothing changes).';

-- The agent's task failed. provision: the attempt counts; below max_attempts the workspace goes to
-- CLEANING (its stale container is removed before the retry), else FAILED. cleanup and delete: tried
-- again (claimable at once). Fenced by the claim's task_token like report_task_success.
CREATE OR REPLACE FUNCTION api.report_task_failure(workspace_id bigint, task_token uuid, reason text DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_ws workspaces.workspaces;
BEGIN
    PERFORM auth.check_text(reason, 'reason', 65536);     -- kept: its first 2,000 characters
    v_ws := workspaces._lock_task(report_task_failure.workspace_id, report_task_failure.task_token);
    UPDATE workspaces.workspaces w
    SET attempts = CASE WHEN w.state = 'PROVISIONING' THEN w.attempts + 1 ELSE w.attempts END,
        state = CASE WHEN w.state <> 'PROVISIONING' THEN w.state
                     WHEN w.attempts + 1 >= w.max_attempts THEN 'FAILED'
                     ELSE 'CLEANING' END::workspaces.workspace_state,
        last_error = left(coalesce(report_task_failure.reason, 'no reason given'), 2000),
        task_claimed_at = NULL, task_token = NULL, updated_at = now()
    WHERE w.id = v_ws.id RETURNING * INTO v_ws;
    IF v_ws.state <> 'FAILED' THEN
        PERFORM pg_notify('host_tasks', v_ws.host_name);
    END IF;
    RETURN workspaces._workspace_json(v_ws);
END
$$;
REVOKE ALL ON FUNCTION api.report_task_failure(bigint, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.report_task_failure(bigint, uuid, text) TO worker;
COMMENT ON FUNCTION api.report_task_failure(bigint, uuid, text) IS
    'Host agent: the claimed task (task_token) failed. provision -> CLEANING (stale container removed before the retry) or FAILED after max_attempts; cleanup/delete retried. 404 unknown; 409 no open task or stale task_token.';

-- The cleanup daemon: the agent sends the names of the containers present on its host.
-- READY workspaces whose container is missing (and unchanged for a minute, so a listing taken just
-- before the creation does not count) become FAILED; DELETING ones whose container is missing are
-- deleted (disk returned); containers the database does not know, or knows as FAILED, are returned
-- for the agent to remove. Returns {failed: [ids], deleted: [ids], remove: [container names]}.
CREATE OR REPLACE FUNCTION api.reconcile_host(host text, container_ids text[])
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_host    bigint;
    v_present text[] := coalesce(reconcile_host.container_ids, '{}');
    v_failed  bigint[];
    v_deleted bigint[];
    v_freed   integer;
    v_remove  text[];
BEGIN
    PERFORM auth.check_text(host, 'host', 200), auth.check_array(container_ids, 'container_ids', 10000, 255);
    PERFORM auth.require_agent('host', reconcile_host.host);
    v_host := workspaces._host_id(reconcile_host.host);
    WITH gone AS (
        UPDATE workspaces.workspaces w
        SET state = 'FAILED', last_error = 'the container vanished from the host', task_claimed_at = NULL,
            updated_at = now()
        WHERE w.host_id = v_host AND w.state = 'READY' AND w.updated_at < now() - interval '1 minute'
          AND NOT (w.container_name = ANY (v_present))
        RETURNING w.id
    )
    SELECT coalesce(array_agg(g.id ORDER BY g.id), '{}') INTO v_failed FROM gone g;

    WITH removed AS (
        DELETE FROM workspaces.workspaces w
        WHERE w.host_id = v_host AND w.state = 'DELETING' AND NOT (w.container_name = ANY (v_present))
        RETURNING w.id, w.disk_gb
    )
    SELECT coalesce(array_agg(r.id ORDER BY r.id), '{}'), coalesce(sum(r.disk_gb), 0) INTO v_deleted, v_freed
    FROM removed r;
    IF v_freed > 0 THEN
        UPDATE workspaces.hosts h SET disk_used = h.disk_used - v_freed WHERE h.id = v_host;
    END IF;

    SELECT coalesce(array_agg(DISTINCT c ORDER BY c), '{}') INTO v_remove
    FROM unnest(v_present) c
    WHERE NOT EXISTS (SELECT FROM workspaces.workspaces w
                      WHERE w.host_id = v_host AND w.container_name = c AND w.state <> 'FAILED');
    RETURN json_build_object('failed', v_failed, 'deleted', v_deleted, 'remove', v_remove);
END
$$;
REVOKE ALL ON FUNCTION api.reconcile_host(text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.reconcile_host(text, text[]) TO worker;
COMMENT ON FUNCTION api.reconcile_host(text, text[]) IS
    'Host agent (cleanup daemon): given the host''s containers, READY workspaces whose container vanished -> FAILED, DELETING ones -> deleted; returns {failed, deleted, remove: containers to remove}.';

-- The host's disk as its agent measures it: bytes its container engine uses and bytes free on the
-- engine's filesystem. Recorded for operators (list_hosts); placement goes by the reservations.
CREATE OR REPLACE FUNCTION api.report_host_disk(host text, used_bytes bigint, free_bytes bigint DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_id   bigint;
    v_host workspaces.hosts;
BEGIN
    PERFORM auth.check_text(host, 'host', 200);
    PERFORM auth.require_agent('host', report_host_disk.host);
    IF report_host_disk.used_bytes IS NULL OR report_host_disk.used_bytes < 0
       OR report_host_disk.free_bytes < 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('used_bytes (required) and free_bytes must not be negative, got %s and %s',
                             coalesce(report_host_disk.used_bytes::text, 'null'), coalesce(report_host_disk.free_bytes::text, 'null'));
    END IF;
    v_id := workspaces._host_id(report_host_disk.host);
    UPDATE workspaces.hosts h
    SET disk_measured_bytes = report_host_disk.used_bytes, disk_free_bytes = report_host_disk.free_bytes,
        disk_measured_at = now()
    WHERE h.id = v_id
    RETURNING * INTO v_host;
    RETURN json_build_object('host', v_host.name, 'disk_measured_bytes', v_host.disk_measured_bytes,
                             'disk_free_bytes', v_host.disk_free_bytes, 'disk_measured_at', v_host.disk_measured_at);
END
$$;
REVOKE ALL ON FUNCTION api.report_host_disk(text, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.report_host_disk(text, bigint, bigint) TO worker;
COMMENT ON FUNCTION api.report_host_disk(text, bigint, bigint) IS
    'Host agent: records the host''s measured disk (bytes its container engine uses, bytes free), shown by list_hosts. 400 negative or missing used_bytes; 404 unknown host.';

------------------------------------------------------------------------------------------------------
-- operator
------------------------------------------------------------------------------------------------------

-- Registers a host with its disk capacity (GB), available at once.
CREATE OR REPLACE FUNCTION api.register_host(name text, disk_capacity integer)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_host workspaces.hosts;
BEGIN
    PERFORM auth.check_text(name, 'name', 200);
    IF register_host.name IS NULL OR length(register_host.name) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'name must be 1 to 200 characters';
    END IF;
    IF register_host.disk_capacity IS NULL OR register_host.disk_capacity <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('disk_capacity must be a positive number of GB, got %s', coalesce(register_host.disk_capacity::text, 'null'));
    END IF;
    INSERT INTO workspaces.hosts (name, disk_capacity) VALUES (register_host.name, register_host.disk_capacity)
    ON CONFLICT ON CONSTRAINT hosts_name_key DO NOTHING
    RETURNING * INTO v_host;
    IF v_host.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('a host named %s already exists', quote_literal(register_host.name));
    END IF;
    RETURN row_to_json(v_host);
END
$$;
REVOKE ALL ON FUNCTION api.register_host(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.register_host(text, integer) TO operator;
COMMENT ON FUNCTION api.register_host(text, integer) IS
    'Operator: registers a host with disk_capacity GB, available. 400 bad values; 409 duplicate name.';

-- Records that a host holds an image (it was pulled there); idempotent.
CREATE OR REPLACE FUNCTION api.add_host_image(host text, image text, arch text DEFAULT 'x86_64')
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_host  bigint := workspaces._host_id(add_host_image.host);
    v_image bigint;
BEGIN
    PERFORM auth.check_text(host, 'host', 200), auth.check_text(image, 'image', 200), auth.check_text(arch, 'arch', 32);
    SELECT i.id INTO v_image FROM workspaces.images i WHERE i.name = add_host_image.image AND i.arch = add_host_image.arch;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('image %s (%s) does not exist', coalesce(quote_literal(add_host_image.image), 'null'),
                             coalesce(add_host_image.arch, 'null')),
            HINT = 'Images appear with their first build (schedule_image_build).';
    END IF;
    INSERT INTO workspaces.host_images (host_id, image_id) VALUES (v_host, v_image) ON CONFLICT DO NOTHING;
    RETURN json_build_object('host', add_host_image.host, 'image', add_host_image.image, 'arch', add_host_image.arch);
END
$$;
REVOKE ALL ON FUNCTION api.add_host_image(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.add_host_image(text, text, text) TO operator;
COMMENT ON FUNCTION api.add_host_image(text, text, text) IS
    'Operator: records that the host holds the image (name, arch), so workspaces of it can be placed there. 404 unknown host or image.';

-- Marks a host available for new workspaces or not (existing ones stay).
CREATE OR REPLACE FUNCTION api.set_host_availability(name text, available boolean)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_host workspaces.hosts;
BEGIN
    PERFORM auth.check_text(name, 'name', 200);
    IF set_host_availability.available IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'available must be true or false';
    END IF;
    UPDATE workspaces.hosts h SET is_available = set_host_availability.available
    WHERE h.name = set_host_availability.name RETURNING * INTO v_host;
    IF NOT FOUND THEN
        PERFORM workspaces._host_id(set_host_availability.name);   -- raises 404
    END IF;
    RETURN row_to_json(v_host);
END
$$;
REVOKE ALL ON FUNCTION api.set_host_availability(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.set_host_availability(text, boolean) TO operator;
COMMENT ON FUNCTION api.set_host_availability(text, boolean) IS
    'Operator: marks a host available (or not) for new workspaces; existing ones stay. 404 unknown host.';

-- Every host with its disk and images, by name.
CREATE OR REPLACE FUNCTION api.list_hosts()
RETURNS SETOF json
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT json_build_object('id', h.id, 'name', h.name, 'disk_capacity', h.disk_capacity, 'disk_used', h.disk_used,
                             'is_available', h.is_available, 'disk_measured_bytes', h.disk_measured_bytes,
                             'disk_free_bytes', h.disk_free_bytes, 'disk_measured_at', h.disk_measured_at,
                             'images', coalesce((SELECT json_agg(i.name || ':' || i.arch ORDER BY i.name, i.arch)
                                                 FROM workspaces.host_images hi JOIN workspaces.images i ON i.id = hi.image_id
                                                 WHERE hi.host_id = h.id), '[]'))
    FROM workspaces.hosts h ORDER BY h.name
$$;
REVOKE ALL ON FUNCTION api.list_hosts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_hosts() TO operator;
COMMENT ON FUNCTION api.list_hosts() IS 'Operator: every host with disk capacity and use (reserved; measured by its agent), availability and the images it holds.';

------------------------------------------------------------------------------------------------------
-- The product's compatibility REST routes (through nginx, nginx/nginx.conf.template):
--   POST   /v1/users/{userId}/workspaces                 -> api.create_user_workspace(json)   201
--   GET    /v1/users/{userId}/workspaces                 -> api.list_user_workspaces()        200
--   DELETE /v1/users/{userId}/workspaces/{workspaceId}   -> api.delete_user_workspace(workspace_id) 202
--   POST   /v1/users/{userId}/image-schedules            -> api.schedule_user_image_build(json) 201
-- nginx rewrites the route to /rpc/<function> and passes {userId} in the X-A4C-User-Id header (set by
-- nginx, never taken from the client); the bodies use the product's camelCase keys. The functions are
-- SECURITY INVOKER: they check the path's user and call the functions above, which do the work.
------------------------------------------------------------------------------------------------------

-- The caller's user id, checked against the userId of the REST path (header x-a4c-user-id set by
-- nginx): PT403 (403) when they differ. Called over /rpc directly (no header): the token's user.
-- SECURITY INVOKER like its callers (no private SECURITY DEFINER helper is callable by an API role:
-- 05_grants.sql); app_user may execute the pure validators auth.check_text / check_json.
CREATE OR REPLACE FUNCTION workspaces._check_path_user()
RETURNS text
LANGUAGE plpgsql STABLE SECURITY INVOKER
SET search_path = ''
AS $$
DECLARE
    v_user text := auth.current_user_id();
    v_path text := nullif(current_setting('request.headers', true), '')::json ->> 'x-a4c-user-id';
BEGIN
    PERFORM auth.check_text(v_path, 'x-a4c-user-id', 255);   -- nginx sets it from the path
    IF v_path IS NOT NULL AND v_path <> v_user THEN
        RAISE EXCEPTION USING ERRCODE = 'PT403',
            MESSAGE = format('user %s may not act for user %s', v_user, v_path),
            DETAIL = 'The userId in the path must be the user of the access token.',
            HINT = format('Use /v1/users/%s/...', v_user);
    END IF;
    RETURN v_user;
END
$$;
REVOKE ALL ON FUNCTION workspaces._check_path_user() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workspaces._check_path_user() TO app_user;
COMMENT ON FUNCTION workspaces._check_path_user() IS
    'Private: the token''s sub, after checking it is the userId of the REST path (x-a4c-user-id header); PT403 (403) otherwise.';

-- A REST route's JSON body, bounded (4 KiB: its few short fields fit many times over). SECURITY
-- INVOKER, as _check_path_user.
CREATE OR REPLACE FUNCTION workspaces._check_body(p_body json)
RETURNS json
LANGUAGE plpgsql IMMUTABLE SECURITY INVOKER
SET search_path = ''
AS $$
BEGIN
    PERFORM auth.check_json(p_body::jsonb, 'body', 4096);
    RETURN p_body;
END
$$;
REVOKE ALL ON FUNCTION workspaces._check_body(json) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workspaces._check_body(json) TO app_user;
COMMENT ON FUNCTION workspaces._check_body(json) IS 'Private: a REST body, or 22023 (400) when it is over 4096 bytes of JSON.';

-- POST /v1/users/{userId}/workspaces {projectName, parentName, arch}: 201 with the workspace.
CREATE OR REPLACE FUNCTION api.create_user_workspace(json)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_result json;
BEGIN
    PERFORM workspaces._check_body($1);
    PERFORM workspaces._check_path_user();
    IF json_typeof($1) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the body must be a JSON object {projectName, parentName, arch}';
    END IF;
    v_result := api.create_workspace($1 ->> 'projectName', $1 ->> 'parentName', coalesce($1 ->> 'arch', 'x86_64'));
    PERFORM set_config('response.status', '201', true);
    RETURN v_result;
END
$$;
REVOKE ALL ON FUNCTION api.create_user_workspace(json) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.create_user_workspace(json) TO app_user;
COMMENT ON FUNCTION api.create_user_workspace(json) IS
    'REST POST /v1/users/{userId}/workspaces {projectName, parentName, arch}: create_workspace, 201. 403 userId is not the token''s user.';

-- GET /v1/users/{userId}/workspaces: the user's workspaces.
CREATE OR REPLACE FUNCTION api.list_user_workspaces()
RETURNS TABLE (workspace_id bigint, project text, parent_name text, arch text, host text, hostname text,
               ip text, state text, created_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
BEGIN
    PERFORM workspaces._check_path_user();
    RETURN QUERY SELECT * FROM api.list_workspaces();
END
$$;
REVOKE ALL ON FUNCTION api.list_user_workspaces() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_user_workspaces() TO app_user;
COMMENT ON FUNCTION api.list_user_workspaces() IS
    'REST GET /v1/users/{userId}/workspaces: list_workspaces. 403 userId is not the token''s user.';

-- DELETE /v1/users/{userId}/workspaces/{workspaceId}: 202 (the host agent removes the container).
CREATE OR REPLACE FUNCTION api.delete_user_workspace(workspace_id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_result json;
BEGIN
    PERFORM workspaces._check_path_user();
    v_result := api.delete_workspace(delete_user_workspace.workspace_id);
    PERFORM set_config('response.status', '202', true);
    RETURN v_result;
END
$$;
REVOKE ALL ON FUNCTION api.delete_user_workspace(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.delete_user_workspace(bigint) TO app_user;
COMMENT ON FUNCTION api.delete_user_workspace(bigint) IS
    'REST DELETE /v1/users/{userId}/workspaces/{workspaceId}: delete_workspace, 202. 403 userId is not the token''s user; 404 unknown.';

-- POST /v1/users/{userId}/image-schedules {imageName, project, change, priority?, runAt?, arch?}: 201.
-- The Idempotency-Key header (or idempotencyKey in the body) makes a repeated request return the first build.
CREATE OR REPLACE FUNCTION api.schedule_user_image_build(json)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_result json;
    v_change bigint;
BEGIN
    PERFORM workspaces._check_body($1);
    PERFORM workspaces._check_path_user();
    IF json_typeof($1) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the body must be a JSON object {imageName, project, change}';
    END IF;
    BEGIN
        v_change := ($1 ->> 'change')::bigint;
    EXCEPTION WHEN invalid_text_representation OR numeric_value_out_of_range THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('change must be a change number, got %s', $1 ->> 'change');
    END;
    v_result := api.schedule_image_build(
        $1 ->> 'imageName', $1 ->> 'project', v_change,
        coalesce(($1 ->> 'priority')::integer, 0), coalesce(($1 ->> 'runAt')::timestamptz, now()),
        coalesce(nullif(current_setting('request.headers', true), '')::json ->> 'idempotency-key', $1 ->> 'idempotencyKey'),
        coalesce($1 ->> 'arch', 'x86_64'));
    PERFORM set_config('response.status', '201', true);
    RETURN v_result;
END
$$;
REVOKE ALL ON FUNCTION api.schedule_user_image_build(json) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.schedule_user_image_build(json) TO app_user;
COMMENT ON FUNCTION api.schedule_user_image_build(json) IS
    'REST POST /v1/users/{userId}/image-schedules {imageName, project, change, priority?, runAt?, arch?} (+ Idempotency-Key header): schedule_image_build, 201. 403 userId is not the token''s user.';
