-- VM allocation: servers with RAM, CPU and a subnet of addresses; VMs placed on them for a user (`sub`).
--
-- Why this shape: every rule of the capacity bookkeeping that PostgreSQL can enforce is a constraint,
-- so overcommit cannot be stored, whatever a function (or a DBA's manual UPDATE) does:
--   * a server's available RAM, CPU and addresses stay between 0 and its total (CHECK); a placement
--     takes them with one UPDATE, which fails rather than go below 0.
--   * the addresses of a server's subnet are counted like RAM and CPU (total_ips is derived from the
--     subnet), so a server whose subnet is full is never chosen, whatever RAM it has left.
--   * a live VM's address is unique on its server (partial unique index: released VMs give their
--     address back) and lies in a /32; subnets of servers do not overlap (exclusion constraint), so an
--     address names one live VM in the whole fleet.
--   * a VM is 'running' with no release time, or 'released' with one.
-- Callers never touch the tables: they get EXECUTE on functions in `api` (sql/vms.sql). The writers are
-- SECURITY DEFINER (owner platform_owner) and filter on the caller's `sub` explicitly. Row level
-- security on vms.vms is the second fence: app_user may SELECT the table directly (list_my_vms is
-- SECURITY INVOKER and reads it that way) and the policy shows only rows with owner = the token's sub.
-- RLS is enabled, not forced: the owner's functions are not subject to it (drain_server must see every
-- user's VMs); they carry the explicit owner filter instead.
--
-- The credentials of a VM (a fresh EC P-256 key and an X.509 certificate) are made with Python's
-- `cryptography` in PL/Python (untrusted: only a superuser creates functions in it, which sql/vms.sql does
-- before switching to the owner). The extension must be created by the superuser, so it comes first.
CREATE EXTENSION IF NOT EXISTS plpython3u;

SET LOCAL ROLE platform_owner;

-- 0002 creates api too; either may run first (or alone).
CREATE SCHEMA IF NOT EXISTS api AUTHORIZATION platform_owner;
GRANT USAGE ON SCHEMA api TO app_user, operator;

CREATE SCHEMA vms;
COMMENT ON SCHEMA vms IS 'Private: servers, VMs and helpers of the VM allocation service. Callers go through api.';
REVOKE ALL ON SCHEMA vms FROM PUBLIC;
-- list_my_vms runs as app_user (SECURITY INVOKER) and reads vms.vms under row level security.
GRANT USAGE ON SCHEMA vms TO app_user;

CREATE TYPE vms.vm_state AS ENUM ('running', 'released');
COMMENT ON TYPE vms.vm_state IS 'A VM is running (holds capacity and its address) until released.';

CREATE TABLE vms.servers (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT servers_pkey PRIMARY KEY,
    name          text COLLATE "C" NOT NULL CONSTRAINT servers_name_key UNIQUE,
    total_ram     integer NOT NULL,          -- MB
    total_cpu     integer NOT NULL,          -- virtual CPUs
    available_ram integer NOT NULL,
    available_cpu integer NOT NULL,
    subnet        cidr NOT NULL,
    -- host addresses of the subnet: all but the network and broadcast addresses
    total_ips     integer NOT NULL GENERATED ALWAYS AS ((2 ^ (32 - masklen(subnet)))::integer - 2) STORED,
    available_ips integer NOT NULL,
    is_available  boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT servers_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT servers_total_ram_positive CHECK (total_ram > 0),
    CONSTRAINT servers_total_cpu_positive CHECK (total_cpu > 0),
    CONSTRAINT servers_available_ram_range CHECK (available_ram BETWEEN 0 AND total_ram),
    CONSTRAINT servers_available_cpu_range CHECK (available_cpu BETWEEN 0 AND total_cpu),
    CONSTRAINT servers_available_ips_range CHECK (available_ips BETWEEN 0 AND total_ips),
    -- IPv4, /16 (65534 hosts) to /30 (2 hosts)
    CONSTRAINT servers_subnet_ipv4 CHECK (family(subnet) = 4 AND masklen(subnet) BETWEEN 16 AND 30),
    CONSTRAINT servers_subnet_no_overlap EXCLUDE USING gist (subnet inet_ops WITH &&)
);
COMMENT ON TABLE vms.servers IS
    'Hosts VMs are placed on. available_* = total_* minus what the running VMs on it hold (checked by tests).';
COMMENT ON COLUMN vms.servers.total_ram IS 'RAM in MB.';
COMMENT ON COLUMN vms.servers.subnet IS 'The server''s IPv4 subnet; its host addresses are handed to its VMs.';
COMMENT ON COLUMN vms.servers.total_ips IS 'Host addresses of the subnet (network and broadcast excluded).';
COMMENT ON COLUMN vms.servers.is_available IS 'false: no new VMs are placed here (maintenance, draining).';
COMMENT ON CONSTRAINT servers_subnet_no_overlap ON vms.servers IS
    'Subnets do not overlap, so an address names at most one live VM in the fleet.';

-- Best fit: the available server with the least RAM that still fits (ORDER BY available_ram, id).
CREATE INDEX servers_best_fit_idx ON vms.servers (available_ram, id) WHERE is_available;

CREATE TABLE vms.vms (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT vms_pkey PRIMARY KEY,
    server_id   bigint NOT NULL CONSTRAINT vms_server_id_fkey REFERENCES vms.servers (id),
    owner       text NOT NULL,               -- the token's sub
    ram         integer NOT NULL,            -- MB
    cpu         integer NOT NULL,
    ip          inet NOT NULL,
    certificate text NOT NULL,               -- PEM; the private key is never stored
    state       vms.vm_state NOT NULL DEFAULT 'running',
    created_at  timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    CONSTRAINT vms_owner_length CHECK (length(owner) BETWEEN 1 AND 255),
    CONSTRAINT vms_ram_positive CHECK (ram > 0),
    CONSTRAINT vms_cpu_positive CHECK (cpu > 0),
    CONSTRAINT vms_ip_host CHECK (family(ip) = 4 AND masklen(ip) = 32),
    CONSTRAINT vms_certificate_pem CHECK (certificate LIKE '-----BEGIN CERTIFICATE-----%'),
    CONSTRAINT vms_released_at_state CHECK ((state = 'released') = (released_at IS NOT NULL))
);
COMMENT ON TABLE vms.vms IS
    'VMs placed on servers. Running VMs hold their RAM, CPU and address; released ones are kept as history.';
COMMENT ON COLUMN vms.vms.owner IS 'The sub of the token that allocated it; only that user sees it.';
COMMENT ON COLUMN vms.vms.certificate IS 'The VM''s X.509 certificate (PEM). Its private key went to the caller once and is not stored.';

-- A live VM's address is unique on its server; also the index the next-free-address search walks.
CREATE UNIQUE INDEX vms_server_id_ip_live_key ON vms.vms (server_id, ip) WHERE state = 'running';
-- list_my_vms and the RLS policy
CREATE INDEX vms_owner_idx ON vms.vms (owner, id);

-- Row level security: app_user sees only its own rows. The sub is read inline (no function to grant).
ALTER TABLE vms.vms ENABLE ROW LEVEL SECURITY;
CREATE POLICY vms_owner_select ON vms.vms FOR SELECT TO app_user
    USING (owner = nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub');
COMMENT ON POLICY vms_owner_select ON vms.vms IS 'app_user reads only the VMs whose owner is the token''s sub.';
GRANT SELECT ON vms.vms TO app_user;
