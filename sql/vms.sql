-- VM allocation API: the functions the gateway exposes over /rpc (schema api) and their private helpers
-- (schema vms, names starting with _). Repeatable: re-applied on every migrate.
--
-- Who may call what (nothing is executable by PUBLIC):
--   app_user  allocate_vm, release_vm, list_my_vms     (the user is the token's sub)
--   operator  register_server, set_server_availability, drain_server, list_servers
--
-- Isolation between users: allocate_vm and release_vm are SECURITY DEFINER (they must change a server's
-- capacity, which no caller may write) and filter on owner = auth.current_user_id() explicitly.
-- list_my_vms is SECURITY INVOKER: it reads vms.vms as app_user, so the row level security policy of
-- migration 0004 applies on top of its own owner filter. Another user's VM is invisible: 404.
--
-- Placement (allocate_vm): one statement picks the available server with the least RAM that still fits
-- (best fit, so large requests still find a server with room) FOR UPDATE SKIP LOCKED, and takes the RAM,
-- CPU and one address from it. Concurrent allocations thus spread over different servers instead of
-- queueing on one row. Only when every fitting server is locked by another allocation does it wait
-- (for the best one alone), so "no capacity" (503) is not a false alarm caused by busy rows.
-- The server's row lock is held to commit; it serializes the address choice on that server. The key
-- pair is made before any lock is taken; only the certificate is signed under it (1.7 ms measured on
-- the busy 2-core dev machine).
--
-- Locking order (never deadlocks): allocate_vm waits for a server row only while it holds no lock (see
-- _take_capacity), then inserts a new VM row without waiting; release_vm locks the VM row, then its
-- server row; operator calls lock one server row. No call waits for anything while holding a server row.
--
-- Errors (SQLSTATE -> HTTP through the gateway): 22023 bad size -> 400 (also: larger than any available server);
-- PT401 no sub in the token -> 401; PT404 unknown or another user's VM -> 404; PT409 VM already released,
-- duplicate server name or overlapping subnet -> 409; PGRST with status 503 and Retry-After when no
-- server has room right now.
SET LOCAL ROLE platform_owner;

-- When a signature changes, DROP FUNCTION IF EXISTS the old one here, above its replacement.

------------------------------------------------------------------------------------------------------
-- Credentials. PL/Python is untrusted, so only a superuser may create (or replace) these functions: the
-- migration tool runs this file as the superuser, which we return to for these statements. They are
-- then owned by platform_owner (so the owner's SECURITY DEFINER functions can call them) and executable
-- by nobody else. Their bodies are fixed; their arguments are a number, an IPv4 address and a key.
------------------------------------------------------------------------------------------------------
RESET ROLE;

-- A fresh EC P-256 private key (PEM, PKCS#8). allocate_vm makes it before it locks a server, so the
-- one-time import of the library (~150 ms in a new session) and the key generation are not paid under
-- the server's row lock. EC P-256: 0.06-0.17 ms measured here; RSA-2048: 340-560 ms.
CREATE OR REPLACE FUNCTION vms._new_private_key()
RETURNS text
LANGUAGE plpython3u VOLATILE
AS $$
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                         serialization.NoEncryption()).decode("ascii")
$$;
ALTER FUNCTION vms._new_private_key() OWNER TO platform_owner;
REVOKE ALL ON FUNCTION vms._new_private_key() FROM PUBLIC;
COMMENT ON FUNCTION vms._new_private_key() IS
    'Private (PL/Python, cryptography): a fresh EC P-256 private key as PEM. Called only by allocate_vm; never stored.';

-- The VM's self-signed X.509 certificate (PEM) for the key: CN vm-<id>, SAN = its IP, valid 365 days.
CREATE OR REPLACE FUNCTION vms._issue_certificate(p_vm_id bigint, p_ip text, p_private_key text)
RETURNS text
LANGUAGE plpython3u VOLATILE STRICT
AS $$
import datetime, ipaddress
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization

key = serialization.load_pem_private_key(p_private_key.encode("ascii"), password=None)
name = x509.Name([
    x509.NameAttribute(NameOID.COMMON_NAME, "vm-%d" % p_vm_id),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "VM allocation service"),
])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(minutes=5))
    .not_valid_after(now + datetime.timedelta(days=365))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address(p_ip))]), critical=False)
    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                 data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                 crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                   critical=False)
    .sign(key, hashes.SHA256())
)
return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
$$;
ALTER FUNCTION vms._issue_certificate(bigint, text, text) OWNER TO platform_owner;
REVOKE ALL ON FUNCTION vms._issue_certificate(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION vms._issue_certificate(bigint, text, text) IS
    'Private (PL/Python, cryptography): self-signed certificate (CN vm-<id>, SAN IP) for a key of _new_private_key. Called only by _place_vm.';

SET LOCAL ROLE platform_owner;

------------------------------------------------------------------------------------------------------
-- Private helpers
------------------------------------------------------------------------------------------------------

-- The caller's user id is auth.current_user_id() (sql/00_auth.sql), shared with the other domains.
DROP FUNCTION IF EXISTS vms._current_user();
-- Renamed: validators named _check_* bound text with auth.check_* (docs/limits.md); sizes are numbers.
DROP FUNCTION IF EXISTS vms._check_size(integer, integer);

-- Validates a requested size (RAM in MB and CPUs): both positive integers, else 22023 (400).
CREATE OR REPLACE FUNCTION vms._require_size(p_ram integer, p_cpu integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    IF p_ram IS NULL OR p_ram <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('ram must be a positive integer (MB), got %s', coalesce(p_ram::text, 'null')),
            HINT = 'Send "ram" as the VM''s memory in MB, for example 4096.';
    END IF;
    IF p_cpu IS NULL OR p_cpu <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('cpu must be a positive integer, got %s', coalesce(p_cpu::text, 'null')),
            HINT = 'Send "cpu" as the VM''s number of virtual CPUs, for example 2.';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION vms._require_size(integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION vms._require_size(integer, integer) IS 'Private: 22023 (400) unless RAM and CPU are positive integers.';

-- Takes p_ram, p_cpu and one address from the best-fitting available server and returns its id (NULL:
-- no server has room) and whether it had to wait. First FOR UPDATE SKIP LOCKED (never waits); only when
-- every fitting server is locked by another allocation does it wait, for the best one alone, and take
-- it if it still fits once the holder commits.
-- Never waits while holding a server lock: a row that was locked to re-check it and no longer fitted
-- stays locked in READ COMMITTED, so each attempt runs in a subtransaction that is rolled back (letting
-- such rows go) when it took nothing. Without this, two allocations could each hold a row the other
-- waits for (measured: the optimistic strategy of the benchmark deadlocked that way).
CREATE OR REPLACE FUNCTION vms._take_capacity(p_ram integer, p_cpu integer, OUT server_id bigint, OUT waited boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_best bigint;
BEGIN
    waited := false;
    FOR v_round IN 1..10 LOOP
        BEGIN
            WITH candidate AS (
                SELECT s.id FROM vms.servers s
                WHERE s.is_available AND s.available_ram >= p_ram AND s.available_cpu >= p_cpu AND s.available_ips > 0
                ORDER BY s.available_ram, s.id
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE vms.servers s
            SET available_ram = s.available_ram - p_ram, available_cpu = s.available_cpu - p_cpu,
                available_ips = s.available_ips - 1
            FROM candidate c WHERE s.id = c.id
            RETURNING s.id INTO server_id;
            IF server_id IS NOT NULL THEN
                RETURN;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'VMRTY';     -- let go of rows locked for a failed re-check
        EXCEPTION WHEN SQLSTATE 'VMRTY' THEN
            NULL;
        END;
        -- Every fitting server is locked (or none fits): the best one regardless of locks.
        SELECT s.id INTO v_best FROM vms.servers s
        WHERE s.is_available AND s.available_ram >= p_ram AND s.available_cpu >= p_cpu AND s.available_ips > 0
        ORDER BY s.available_ram, s.id
        LIMIT 1;
        IF v_best IS NULL THEN
            RETURN;                                       -- no server has room
        END IF;
        waited := true;
        BEGIN
            UPDATE vms.servers s                          -- waits for the holder, then re-checks the row
            SET available_ram = s.available_ram - p_ram, available_cpu = s.available_cpu - p_cpu,
                available_ips = s.available_ips - 1
            WHERE s.id = v_best AND s.is_available AND s.available_ram >= p_ram AND s.available_cpu >= p_cpu
              AND s.available_ips > 0
            RETURNING s.id INTO server_id;
            IF server_id IS NOT NULL THEN
                RETURN;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'VMRTY';     -- it filled up meanwhile: let go of it, look again
        EXCEPTION WHEN SQLSTATE 'VMRTY' THEN
            NULL;
        END;
    END LOOP;
    -- Ten rounds of others taking what we waited for: report no capacity (503, retry later).
END
$$;
REVOKE ALL ON FUNCTION vms._take_capacity(integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION vms._take_capacity(integer, integer) IS
    'Private: best fit FOR UPDATE SKIP LOCKED (waiting only when all fitting servers are locked); takes RAM, CPU and an address.';

-- The lowest free host address of a server's subnet (call while holding the server's row lock).
CREATE OR REPLACE FUNCTION vms._next_ip(p_server_id bigint)
RETURNS inet
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_ip inet;
BEGIN
    -- The lowest free host is either the first host or right after a taken one; the partial unique
    -- index (server_id, ip) serves both lookups, so this costs O(live VMs on the server).
    SELECT c.ip INTO v_ip
    FROM (
        SELECT set_masklen(s.subnet::inet, 32) + 1 AS ip FROM vms.servers s WHERE s.id = p_server_id
        UNION ALL
        SELECT v.ip + 1 FROM vms.vms v WHERE v.server_id = p_server_id AND v.state = 'running'
    ) c
    WHERE NOT EXISTS (SELECT FROM vms.vms v
                      WHERE v.server_id = p_server_id AND v.state = 'running' AND v.ip = c.ip)
    ORDER BY c.ip
    LIMIT 1;
    -- available_ips > 0 was checked under the same lock, so a host address is free; guard regardless.
    IF v_ip IS NULL OR NOT EXISTS (SELECT FROM vms.servers s
                                   WHERE s.id = p_server_id AND v_ip << s.subnet AND v_ip <> broadcast(s.subnet)) THEN
        RAISE EXCEPTION 'server % has no free address although its available_ips says so', p_server_id
            USING ERRCODE = 'XX000';
    END IF;
    RETURN v_ip;
END
$$;
REVOKE ALL ON FUNCTION vms._next_ip(bigint) FROM PUBLIC;
COMMENT ON FUNCTION vms._next_ip(bigint) IS 'Private: lowest free host address of the server''s subnet among its running VMs.';

-- Creates the VM row on a server whose capacity the caller has just taken (and still holds locked),
-- with the next free address and a certificate for p_private_key, and returns the answer of
-- allocate_vm: the private key appears only there, once.
CREATE OR REPLACE FUNCTION vms._place_vm(p_owner text, p_server_id bigint, p_ram integer, p_cpu integer, p_private_key text)
RETURNS json
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_id          bigint;
    v_ip          inet;
    v_certificate text;
BEGIN
    v_ip := vms._next_ip(p_server_id);
    v_id := nextval('vms.vms_id_seq'::regclass);   -- the certificate names the VM, so the id comes first
    v_certificate := vms._issue_certificate(v_id, host(v_ip), p_private_key);
    -- clock_timestamp(): the moment the address was taken, after any release it reuses (release_vm
    -- stamps released_at the same way), so the history shows no overlap.
    INSERT INTO vms.vms (id, server_id, owner, ram, cpu, ip, certificate, created_at)
    OVERRIDING SYSTEM VALUE
    VALUES (v_id, p_server_id, p_owner, p_ram, p_cpu, v_ip, v_certificate, clock_timestamp());
    RETURN json_build_object(
        'vm_id', v_id,
        'ip', host(v_ip),
        'ram', p_ram,
        'cpu', p_cpu,
        'pem_file_details', json_build_object('certificate', v_certificate, 'key', p_private_key));
END
$$;
REVOKE ALL ON FUNCTION vms._place_vm(text, bigint, integer, integer, text) FROM PUBLIC;
COMMENT ON FUNCTION vms._place_vm(text, bigint, integer, integer, text) IS
    'Private: inserts the VM (next free address, certificate for the given key) on a server whose capacity was just taken; returns the allocate_vm answer.';

-- Raises the answer to a request no server can take right now:
--   400 when no AVAILABLE server could ever hold it, even empty (RAM and CPU on one server). Servers
--       that are drained or marked unavailable do not count: a drained server takes no new VM, so a
--       503 ("retry later") would send the client retrying for ever. The detail says when only
--       unavailable servers are large enough, so the user knows an operator could change the answer.
--   503 with Retry-After otherwise: capacity returns as VMs are released and servers are added. Also
--       when no server at all is available (an empty or fully drained fleet): that is the service
--       being down for now, not the request being too large, so the size is not blamed.
CREATE OR REPLACE FUNCTION vms._raise_no_capacity(p_ram integer, p_cpu integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_max_ram   integer;          -- over available servers
    v_max_cpu   integer;
    v_fits      boolean;          -- some available server could hold it when empty
    v_fits_any  boolean;          -- some server, available or not, could
    v_all_ram   integer;          -- over all servers
    v_all_cpu   integer;
BEGIN
    SELECT max(s.total_ram) FILTER (WHERE s.is_available), max(s.total_cpu) FILTER (WHERE s.is_available),
           coalesce(bool_or(s.total_ram >= p_ram AND s.total_cpu >= p_cpu) FILTER (WHERE s.is_available), false),
           coalesce(bool_or(s.total_ram >= p_ram AND s.total_cpu >= p_cpu), false),
           max(s.total_ram), max(s.total_cpu)
    INTO v_max_ram, v_max_cpu, v_fits, v_fits_any, v_all_ram, v_all_cpu
    FROM vms.servers s;
    IF v_all_ram IS NOT NULL AND NOT v_fits_any THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('a VM of %s MB RAM and %s CPU is larger than any server', p_ram, p_cpu),
            DETAIL = format('The largest server has %s MB RAM; the most CPUs on one server is %s.', v_all_ram, v_all_cpu),
            HINT = 'Ask for a smaller VM.';
    ELSIF v_max_ram IS NOT NULL AND NOT v_fits THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('a VM of %s MB RAM and %s CPU is larger than any available server', p_ram, p_cpu),
            DETAIL = format('Only unavailable (drained) servers are that large. The largest available server has %s MB RAM; '
                            'the most CPUs on one available server is %s.', v_max_ram, v_max_cpu),
            HINT = 'Ask for a smaller VM, or ask an operator to make a larger server available.';
    END IF;
    RAISE SQLSTATE 'PGRST' USING
        MESSAGE = json_build_object(
            'code', 'PT503',
            'message', format('no capacity for a VM of %s MB RAM and %s CPU', p_ram, p_cpu),
            'details', CASE WHEN v_max_ram IS NULL
                            THEN 'No server is available right now (all are drained or marked unavailable).'
                            ELSE 'No available server has that much free RAM and CPU right now.' END,
            'hint', 'Retry later: capacity returns as VMs are released and servers are added.')::text,
        DETAIL = json_build_object('status', 503, 'headers', json_build_object('Retry-After', '5'))::text;
END
$$;
REVOKE ALL ON FUNCTION vms._raise_no_capacity(integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION vms._raise_no_capacity(integer, integer) IS
    'Private: 400 (22023) when no available server could ever hold the VM, else 503 with Retry-After (RAISE SQLSTATE PGRST).';

-- A server as the operator functions return it.
CREATE OR REPLACE FUNCTION vms._server_json(p_server vms.servers)
RETURNS json
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT json_build_object(
        'server_id', p_server.id, 'name', p_server.name, 'subnet', p_server.subnet::text,
        'total_ram', p_server.total_ram, 'available_ram', p_server.available_ram,
        'total_cpu', p_server.total_cpu, 'available_cpu', p_server.available_cpu,
        'total_ips', p_server.total_ips, 'available_ips', p_server.available_ips,
        'is_available', p_server.is_available)
$$;
REVOKE ALL ON FUNCTION vms._server_json(vms.servers) FROM PUBLIC;
COMMENT ON FUNCTION vms._server_json(vms.servers) IS 'Private: a server row as the JSON object operator calls return.';

-- The row of the server with this name, locked; PT404 if there is none.
CREATE OR REPLACE FUNCTION vms._lock_server(p_name text)
RETURNS vms.servers
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_server vms.servers;
BEGIN
    SELECT * INTO v_server FROM vms.servers s WHERE s.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('server %s does not exist', coalesce(quote_literal(p_name), 'null')),
            HINT = 'Check the name with list_servers, or register it with register_server.';
    END IF;
    RETURN v_server;
END
$$;
REVOKE ALL ON FUNCTION vms._lock_server(text) FROM PUBLIC;
COMMENT ON FUNCTION vms._lock_server(text) IS 'Private: locks and returns the named server; PT404 (404) if unknown.';

------------------------------------------------------------------------------------------------------
-- app_user
------------------------------------------------------------------------------------------------------

-- Allocates a VM of `ram` MB and `cpu` CPUs for the caller on the best-fitting server; returns its id,
-- address and credentials (the private key only here, once).
-- Time limits (migration 0015; app_user has 5 s per statement, 2 s per lock wait): allocate_vm waits,
-- by design, for the best server when every fitting one is held by another allocation, and under a
-- burst every allocator queues on the same row (best fit), each holding it for a certificate signing;
-- the first call of a session also imports the cryptography library (~150 ms, more when loaded). It
-- may wait 5 s for that row and run 10 s in all; the gateway hoists the statement_timeout into the
-- call's transaction. Beyond that the row is held by something stuck: 55P03 / 57014, not a hang.
CREATE OR REPLACE FUNCTION api.allocate_vm(ram integer, cpu integer)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
SET statement_timeout = '10s'
SET lock_timeout = '5s'
AS $$
DECLARE
    v_user   text := auth.current_user_id();
    v_server bigint;
    v_key    text;
BEGIN
    PERFORM vms._require_size(allocate_vm.ram, allocate_vm.cpu);
    v_key := vms._new_private_key();          -- before any lock: see _new_private_key
    SELECT t.server_id INTO v_server FROM vms._take_capacity(allocate_vm.ram, allocate_vm.cpu) t;
    IF v_server IS NULL THEN
        PERFORM vms._raise_no_capacity(allocate_vm.ram, allocate_vm.cpu);
    END IF;
    RETURN vms._place_vm(v_user, v_server, allocate_vm.ram, allocate_vm.cpu, v_key);
END
$$;
REVOKE ALL ON FUNCTION api.allocate_vm(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.allocate_vm(integer, integer) TO app_user;
COMMENT ON FUNCTION api.allocate_vm(integer, integer) IS
    'Allocates a VM (ram MB, cpu CPUs) for the token''s user: {vm_id, ip, ram, cpu, pem_file_details {certificate, key}}. 400 bad or too large a size; 503 + Retry-After when no server has room.';

-- Releases one of the caller's running VMs: its RAM, CPU and address go back to the server.
CREATE OR REPLACE FUNCTION api.release_vm(vm_id bigint)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_user  text := auth.current_user_id();
    v_vm    record;
    v_state vms.vm_state;
BEGIN
    WITH released AS (
        UPDATE vms.vms v SET state = 'released', released_at = clock_timestamp()
        WHERE v.id = release_vm.vm_id AND v.owner = v_user AND v.state = 'running'
        RETURNING v.id, v.server_id, v.ram, v.cpu, v.ip, v.released_at
    ), freed AS (
        UPDATE vms.servers s
        SET available_ram = s.available_ram + r.ram, available_cpu = s.available_cpu + r.cpu,
            available_ips = s.available_ips + 1
        FROM released r WHERE s.id = r.server_id
        RETURNING s.id
    )
    SELECT r.id, r.ip, r.released_at INTO v_vm FROM released r JOIN freed f ON f.id = r.server_id;
    IF NOT FOUND THEN
        SELECT v.state INTO v_state FROM vms.vms v WHERE v.id = release_vm.vm_id AND v.owner = v_user;
        IF v_state = 'released' THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('VM %s is already released', release_vm.vm_id),
                HINT = 'Nothing to do; list_my_vms shows your running VMs.';
        END IF;
        -- Unknown, or another user's: the same answer, so ids of others' VMs reveal nothing.
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('VM %s does not exist', coalesce(release_vm.vm_id::text, 'null')),
            HINT = 'list_my_vms shows your VMs.';
    END IF;
    RETURN json_build_object('vm_id', v_vm.id, 'ip', host(v_vm.ip), 'state', 'released', 'released_at', v_vm.released_at);
END
$$;
REVOKE ALL ON FUNCTION api.release_vm(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.release_vm(bigint) TO app_user;
COMMENT ON FUNCTION api.release_vm(bigint) IS
    'Releases the caller''s VM and returns its capacity to the server. 404 unknown or another user''s VM; 409 already released.';

-- The caller's VMs (running ones; released ones too when asked), newest last, without any key.
-- SECURITY INVOKER: reads vms.vms as app_user, under its row level security policy.
CREATE OR REPLACE FUNCTION api.list_my_vms(include_released boolean DEFAULT false)
RETURNS TABLE (vm_id bigint, ip text, ram integer, cpu integer, state text, certificate text,
               created_at timestamptz, released_at timestamptz)
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT v.id, host(v.ip), v.ram, v.cpu, v.state::text, v.certificate, v.created_at, v.released_at
    FROM vms.vms v
    WHERE v.owner = auth.current_user_id()
      AND (v.state = 'running' OR coalesce(list_my_vms.include_released, false))
    ORDER BY v.id
$$;
REVOKE ALL ON FUNCTION api.list_my_vms(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_my_vms(boolean) TO app_user;
COMMENT ON FUNCTION api.list_my_vms(boolean) IS
    'The caller''s VMs (running; released too with include_released): id, ip, size, state, certificate, times. Never keys.';

------------------------------------------------------------------------------------------------------
-- operator
------------------------------------------------------------------------------------------------------

-- Registers a server with its capacity and IPv4 subnet (/16 to /30), available at once.
CREATE OR REPLACE FUNCTION api.register_server(name text, total_ram integer, total_cpu integer, subnet cidr)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_server vms.servers;
BEGIN
    PERFORM auth.check_text(name, 'name', 200);     -- a server's name: 1 to 200 characters
    IF register_server.name IS NULL OR register_server.name = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'name must be 1 to 200 characters',
            HINT = 'Send the server''s name, for example "rack1-node07".';
    END IF;
    IF register_server.total_ram IS NULL OR register_server.total_ram <= 0
       OR register_server.total_cpu IS NULL OR register_server.total_cpu <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('total_ram and total_cpu must be positive integers, got %s and %s',
                             coalesce(register_server.total_ram::text, 'null'), coalesce(register_server.total_cpu::text, 'null')),
            HINT = 'total_ram is in MB.';
    END IF;
    IF register_server.subnet IS NULL OR family(register_server.subnet) <> 4
       OR masklen(register_server.subnet) NOT BETWEEN 16 AND 30 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('subnet must be an IPv4 network from /16 to /30, got %s', coalesce(register_server.subnet::text, 'null')),
            HINT = 'For example "10.1.0.0/24".';
    END IF;
    BEGIN
        INSERT INTO vms.servers (name, total_ram, total_cpu, available_ram, available_cpu, subnet, available_ips)
        VALUES (register_server.name, register_server.total_ram, register_server.total_cpu,
                register_server.total_ram, register_server.total_cpu, register_server.subnet,
                (2 ^ (32 - masklen(register_server.subnet)))::integer - 2)
        RETURNING * INTO v_server;
    EXCEPTION
        WHEN unique_violation THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('a server named %s already exists', quote_literal(register_server.name));
        WHEN exclusion_violation THEN
            RAISE EXCEPTION USING ERRCODE = 'PT409',
                MESSAGE = format('subnet %s overlaps the subnet of another server', register_server.subnet),
                HINT = 'Each server needs its own addresses; list_servers shows the subnets in use.';
    END;
    RETURN vms._server_json(v_server);
END
$$;
REVOKE ALL ON FUNCTION api.register_server(text, integer, integer, cidr) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.register_server(text, integer, integer, cidr) TO operator;
COMMENT ON FUNCTION api.register_server(text, integer, integer, cidr) IS
    'Operator: registers a server (RAM in MB, CPUs, IPv4 subnet /16../30). 400 bad values; 409 duplicate name or overlapping subnet.';

-- Marks a server available for new VMs or not (running VMs stay); returns the server.
CREATE OR REPLACE FUNCTION api.set_server_availability(name text, available boolean)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_server vms.servers := vms._lock_server(auth.check_text(name, 'name', 200));
BEGIN
    IF set_server_availability.available IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'available must be true or false';
    END IF;
    UPDATE vms.servers s SET is_available = set_server_availability.available
    WHERE s.id = v_server.id RETURNING * INTO v_server;
    RETURN vms._server_json(v_server);
END
$$;
REVOKE ALL ON FUNCTION api.set_server_availability(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.set_server_availability(text, boolean) TO operator;
COMMENT ON FUNCTION api.set_server_availability(text, boolean) IS
    'Operator: marks a server available (or not) for new VMs; running VMs are untouched. 404 unknown server.';

-- Drains a server: no new VMs are placed on it; returns it with the running VMs still on it.
CREATE OR REPLACE FUNCTION api.drain_server(name text)
RETURNS json
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_server vms.servers := vms._lock_server(auth.check_text(name, 'name', 200));
    v_vms    json;
BEGIN
    UPDATE vms.servers s SET is_available = false WHERE s.id = v_server.id RETURNING * INTO v_server;
    SELECT coalesce(json_agg(json_build_object('vm_id', v.id, 'owner', v.owner, 'ip', host(v.ip),
                                               'ram', v.ram, 'cpu', v.cpu, 'created_at', v.created_at)
                             ORDER BY v.id), '[]')
    INTO v_vms
    FROM vms.vms v WHERE v.server_id = v_server.id AND v.state = 'running';
    RETURN json_build_object('server', vms._server_json(v_server), 'running_vms', json_array_length(v_vms),
                             'vms', v_vms);
END
$$;
REVOKE ALL ON FUNCTION api.drain_server(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.drain_server(text) TO operator;
COMMENT ON FUNCTION api.drain_server(text) IS
    'Operator: marks a server unavailable and returns {server, running_vms, vms}: the VMs still to move off it. 404 unknown server.';

-- Every server with its capacity, by name.
CREATE OR REPLACE FUNCTION api.list_servers()
RETURNS SETOF json
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT vms._server_json(s) FROM vms.servers s ORDER BY s.name
$$;
REVOKE ALL ON FUNCTION api.list_servers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.list_servers() TO operator;
COMMENT ON FUNCTION api.list_servers() IS 'Operator: every server with its total and available RAM, CPU and addresses.';
