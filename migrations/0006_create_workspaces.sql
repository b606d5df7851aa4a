-- Workspaces and image builds (docs/requirements.md): projects, their images, hosts
-- holding images, people's workspaces placed on those hosts, the image build queue and an outbox of
-- notifications. Functions are in sql/workspaces.sql, sql/builds.sql and sql/notifications.sql.
--
-- Why this shape:
--   * a host's disk bookkeeping is a constraint: disk_used stays between 0 and disk_capacity (CHECK);
--     create_workspace takes the image's workspace size from the chosen host in the same transaction
--     that inserts the workspace, so concurrent creations see each other's usage and spread.
--   * a workspace remembers the disk it reserved (disk_gb); the reservation is given back when its
--     row goes (deletion completed), so host.disk_used = the sum of its workspaces' disk_gb.
--   * the build queue is one table; a build is IN_PROGRESS exactly when it holds a lease (token and
--     expiry: CHECK). Claims walk the partial index builds_claim_idx, whose order is the claim's
--     ORDER BY (priority DESC, run_at, id) and whose predicate is the claim's status filter, so a claim
--     reads only queued rows however long the history grows. Expired leases are found through the
--     partial index builds_lease_expiry_idx.
--   * host agents' tasks (provision, cleanup, delete) are the workspaces in those states; the partial
--     index workspaces_host_task_idx holds only them.
-- Callers never write the tables: they get EXECUTE on functions in `api`. Row level security on
-- workspaces.workspaces lets app_user read only its own rows (list_workspaces is SECURITY INVOKER).
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: a0e52b5433a1bf38bd0bc0b738a472a7286bfc35422c8884472c8f57391360bd
SET LOCAL ROLE platform_owner;

-- Other migrations create api too; any of them may run first (or alone).
CREATE SCHEMA IF NOT EXISTS api AUTHORIZATION platform_owner;
GRANT USAGE ON SCHEMA api TO app_user, worker, operator;

CREATE SCHEMA workspaces;
COMMENT ON SCHEMA workspaces IS
    'Private: projects, images, hosts, workspaces, the image build queue and the notification outbox. Callers go through api.';
REVOKE ALL ON SCHEMA workspaces FROM PUBLIC;
-- list_workspaces runs as app_user (SECURITY INVOKER) and reads workspaces.workspaces under RLS.
GRANT USAGE ON SCHEMA workspaces TO app_user;

CREATE TYPE workspaces.image_status AS ENUM ('PENDING', 'BUILDING', 'READY', 'FAILED');
COMMENT ON TYPE workspaces.image_status IS
    'PENDING: never built; BUILDING: a build is queued or running and none succeeded yet; READY: built (change_number); FAILED: its only builds failed.';

CREATE TYPE workspaces.workspace_state AS ENUM ('PROVISIONING', 'CLEANING', 'READY', 'DELETING', 'FAILED');
COMMENT ON TYPE workspaces.workspace_state IS
    'PROVISIONING: the host agent creates the container; CLEANING: a creation failed, the stale container is removed before the retry; READY: usable; DELETING: the agent removes the container (then the row goes); FAILED: gave up or the container vanished.';

CREATE TYPE workspaces.build_status AS ENUM ('SCHEDULED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELLED');
COMMENT ON TYPE workspaces.build_status IS
    'SCHEDULED (queued, claimable from run_at) -> IN_PROGRESS (leased by a worker) -> SUCCEEDED | FAILED | CANCELLED.';

CREATE TABLE workspaces.projects (
    id         bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT projects_pkey PRIMARY KEY,
    name       text COLLATE "C" NOT NULL CONSTRAINT projects_name_key UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_name_length CHECK (length(name) BETWEEN 1 AND 200)
);
COMMENT ON TABLE workspaces.projects IS 'Projects whose images are built and whose workspaces people create.';

CREATE TABLE workspaces.images (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT images_pkey PRIMARY KEY,
    project_id    bigint NOT NULL CONSTRAINT images_project_id_fkey REFERENCES workspaces.projects (id),
    name          text COLLATE "C" NOT NULL,
    arch          text COLLATE "C" NOT NULL,
    change_number bigint,                     -- the change of the last successful build
    status        workspaces.image_status NOT NULL DEFAULT 'PENDING',
    workspace_gb  integer NOT NULL DEFAULT 10,
    built_at      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT images_name_arch_key UNIQUE (name, arch),
    CONSTRAINT images_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT images_arch_length CHECK (length(arch) BETWEEN 1 AND 32),
    CONSTRAINT images_change_number_positive CHECK (change_number > 0),
    CONSTRAINT images_workspace_gb_positive CHECK (workspace_gb > 0),
    CONSTRAINT images_status_ready_built CHECK (status <> 'READY' OR (change_number IS NOT NULL AND built_at IS NOT NULL))
);
COMMENT ON TABLE workspaces.images IS
    'Container images of a project, one per (name, arch); a workspace is created from one. change_number: the source change it was built at.';
COMMENT ON COLUMN workspaces.images.workspace_gb IS 'Disk (GB) a workspace created from this image takes on its host.';
CREATE INDEX images_project_id_idx ON workspaces.images (project_id, arch, name);

CREATE TABLE workspaces.hosts (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT hosts_pkey PRIMARY KEY,
    name          text COLLATE "C" NOT NULL CONSTRAINT hosts_name_key UNIQUE,
    disk_capacity integer NOT NULL,           -- GB
    disk_used     integer NOT NULL DEFAULT 0, -- GB reserved by its workspaces
    is_available  boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT hosts_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT hosts_disk_capacity_positive CHECK (disk_capacity > 0),
    CONSTRAINT hosts_disk_used_range CHECK (disk_used BETWEEN 0 AND disk_capacity)
);
COMMENT ON TABLE workspaces.hosts IS
    'Docker hosts workspaces run on. disk_used = the sum of disk_gb of its workspaces (checked by tests).';
COMMENT ON COLUMN workspaces.hosts.is_available IS 'false: no new workspaces are placed here (maintenance).';
-- Placement: least disk used first, among available hosts.
CREATE INDEX hosts_placement_idx ON workspaces.hosts (disk_used, id) WHERE is_available;

CREATE TABLE workspaces.host_images (
    host_id  bigint NOT NULL CONSTRAINT host_images_host_id_fkey REFERENCES workspaces.hosts (id),
    image_id bigint NOT NULL CONSTRAINT host_images_image_id_fkey REFERENCES workspaces.images (id),
    added_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT host_images_pkey PRIMARY KEY (image_id, host_id)
);
COMMENT ON TABLE workspaces.host_images IS 'Which host holds which image (only those hosts can create its workspaces).';
CREATE INDEX host_images_host_id_idx ON workspaces.host_images (host_id);

CREATE TABLE workspaces.workspaces (
    id               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT workspaces_pkey PRIMARY KEY,
    owner            text NOT NULL,           -- the token's sub
    project_id       bigint NOT NULL CONSTRAINT workspaces_project_id_fkey REFERENCES workspaces.projects (id),
    project_name     text NOT NULL,           -- copied (projects are never renamed): list reads one table
    image_id         bigint NOT NULL CONSTRAINT workspaces_image_id_fkey REFERENCES workspaces.images (id),
    parent_name      text,                    -- as asked (the image name); null: the project's image
    arch             text COLLATE "C" NOT NULL,
    host_id          bigint NOT NULL CONSTRAINT workspaces_host_id_fkey REFERENCES workspaces.hosts (id),
    host_name        text NOT NULL,           -- copied (hosts are never renamed): list reads one table
    disk_gb          integer NOT NULL,        -- reserved on the host while the row exists
    container_name   text NOT NULL GENERATED ALWAYS AS ('ws-' || id::text) STORED,
    hostname         text,
    ip               inet,
    state            workspaces.workspace_state NOT NULL DEFAULT 'PROVISIONING',
    attempts         integer NOT NULL DEFAULT 0,   -- failed creations so far
    max_attempts     integer NOT NULL DEFAULT 3,
    task_claimed_at  timestamptz,             -- a host agent is working on the current task since then
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workspaces_owner_length CHECK (length(owner) BETWEEN 1 AND 255),
    CONSTRAINT workspaces_disk_gb_positive CHECK (disk_gb > 0),
    CONSTRAINT workspaces_attempts_range CHECK (attempts BETWEEN 0 AND max_attempts),
    CONSTRAINT workspaces_hostname_ready CHECK (state <> 'READY' OR (hostname IS NOT NULL AND ip IS NOT NULL))
);
COMMENT ON TABLE workspaces.workspaces IS
    'People''s workspaces: a container of an image on a host. Deleted rows are gone (the seed deletes the entry once the container is removed). A row holds disk_gb of its host until it is deleted, FAILED ones too (their container may still be there until reconcile_host has it removed).';
COMMENT ON COLUMN workspaces.workspaces.owner IS 'The sub of the token that created it; only that user sees it.';
COMMENT ON COLUMN workspaces.workspaces.container_name IS 'The container''s name on its host; reconcile_host compares the host''s containers with these.';
-- list_workspaces and the RLS policy
CREATE INDEX workspaces_owner_idx ON workspaces.workspaces (owner, id);
-- claim_host_task: the open tasks of a host, oldest first
CREATE INDEX workspaces_host_task_idx ON workspaces.workspaces (host_id, id)
    WHERE state IN ('PROVISIONING', 'CLEANING', 'DELETING');
-- reconcile_host
CREATE INDEX workspaces_host_id_idx ON workspaces.workspaces (host_id, container_name);

ALTER TABLE workspaces.workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspaces_owner_select ON workspaces.workspaces FOR SELECT TO app_user
    USING (owner = nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub');
COMMENT ON POLICY workspaces_owner_select ON workspaces.workspaces IS
    'app_user reads only the workspaces whose owner is the token''s sub.';
GRANT SELECT ON workspaces.workspaces TO app_user;

CREATE TABLE workspaces.builds (
    id               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT builds_pkey PRIMARY KEY,
    image_id         bigint NOT NULL CONSTRAINT builds_image_id_fkey REFERENCES workspaces.images (id),
    change_number    bigint NOT NULL,
    requested_by     text NOT NULL,           -- the sub who scheduled it; gets the notification
    status           workspaces.build_status NOT NULL DEFAULT 'SCHEDULED',
    priority         integer NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,   -- claims so far
    max_attempts     integer NOT NULL DEFAULT 5,
    lease_token      uuid,
    lease_expires_at timestamptz,
    worker           text,                    -- who holds (or last held) it
    cancel_requested boolean NOT NULL DEFAULT false,
    idempotency_key  text CONSTRAINT builds_idempotency_key_key UNIQUE,
    log              text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CONSTRAINT builds_change_number_positive CHECK (change_number > 0),
    CONSTRAINT builds_priority_range CHECK (priority BETWEEN -1000 AND 1000),
    CONSTRAINT builds_attempts_range CHECK (attempts BETWEEN 0 AND max_attempts),
    CONSTRAINT builds_max_attempts_range CHECK (max_attempts BETWEEN 1 AND 100),
    CONSTRAINT builds_lease_in_progress CHECK ((status = 'IN_PROGRESS') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT builds_finished_at_final CHECK ((status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) = (finished_at IS NOT NULL)),
    CONSTRAINT builds_idempotency_key_length CHECK (length(idempotency_key) BETWEEN 1 AND 200)
);
COMMENT ON TABLE workspaces.builds IS
    'The image build queue (seed: buildSchedule). A worker claims a build with a lease (token, expiry); only that token may heartbeat or complete it.';
COMMENT ON COLUMN workspaces.builds.lease_token IS
    'Fencing token of the current claim; a fresh one per claim, so a worker whose lease expired and was re-claimed cannot complete it (409).';
COMMENT ON COLUMN workspaces.builds.attempts IS 'Claims so far; an expired lease at max_attempts makes the build FAILED.';
-- claim_build: its WHERE (status) is the predicate, its ORDER BY the key.
CREATE INDEX builds_claim_idx ON workspaces.builds (priority DESC, run_at, id) WHERE status = 'SCHEDULED';
-- requeue_expired_builds
CREATE INDEX builds_lease_expiry_idx ON workspaces.builds (lease_expires_at) WHERE status = 'IN_PROGRESS';
CREATE INDEX builds_image_id_idx ON workspaces.builds (image_id);

CREATE TABLE workspaces.notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT notifications_pkey PRIMARY KEY,
    recipient  text NOT NULL,                 -- a user's sub; the mailer resolves the address
    kind       text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
COMMENT ON TABLE workspaces.notifications IS
    'Outbox: e-mails to send (seed: the user is e-mailed when the build completes). Written in the transaction of the event; a mailer sends them and sets sent_at.';
CREATE INDEX notifications_unsent_idx ON workspaces.notifications (id) WHERE sent_at IS NULL;
