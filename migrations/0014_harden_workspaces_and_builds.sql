-- Issue 16, workspaces and image builds: the schema changes its fixes need (functions: sql/workspaces.sql).
SET LOCAL ROLE platform_owner;

-- Item 3: host-task reports are fenced, as build completions are by builds.lease_token. Each claim of a
-- workspace's task gets a fresh token; a report must carry the current one. delete_workspace clears it,
-- so the late report of a provision that was claimed before the deletion is refused (409) instead of
-- deleting the row and returning the disk while the container it created runs on. A re-claim after 5
-- minutes (the agent looked dead) also makes the first agent's token stale.
ALTER TABLE workspaces.workspaces ADD COLUMN task_token uuid;
COMMENT ON COLUMN workspaces.workspaces.task_token IS
    'The token of the current claim of its task (claim_host_task); only a report carrying it is accepted. null: unclaimed.';

-- Item 11: an idempotency key is the requester's, not global. With one global key another user's
-- repeat of a key got a 409 naming the first user's build, and anybody could squat keys others would
-- use. The key is unique per (requested_by, idempotency_key); the index also serves the lookup of the
-- first build of a repeated request.
ALTER TABLE workspaces.builds DROP CONSTRAINT builds_idempotency_key_key;
ALTER TABLE workspaces.builds
    ADD CONSTRAINT builds_requested_by_idempotency_key_key UNIQUE (requested_by, idempotency_key);
