-- VM allocation: the specification a DBA reads. Every rule and every error of the API, called as the
-- roles the gateway switches to (operator, app_user with a token's claims, web_anon, worker), then the
-- constraints straight against the tables (as the owner) to show they hold on their own.
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(114);

-- check_credentials(answer): parses the returned PEMs with Python's cryptography and reports what a
-- client would check: the key is the certificate's key, the certificate names the VM and its IP.
CREATE FUNCTION pg_temp.check_credentials(p_answer json) RETURNS json LANGUAGE plpython3u AS $$
import json, ipaddress
from cryptography import x509
from cryptography.hazmat.primitives import serialization
a = json.loads(p_answer)
cert = x509.load_pem_x509_certificate(a["pem_file_details"]["certificate"].encode())
key = serialization.load_pem_private_key(a["pem_file_details"]["key"].encode(), password=None)
pub = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
return json.dumps({
    "key_matches": pub(cert.public_key()) == pub(key.public_key()),
    "curve": key.curve.name,
    "cn": cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value,
    "san_ips": [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
})
$$;
-- Test-only: pgTAP lives in public, whose functions are not executable by PUBLIC in this project.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO app_user, operator, worker, web_anon, platform_owner;

-- Start from an empty fleet (whatever other tests left; rolled back at the end).
DELETE FROM vms.vms;
DELETE FROM vms.servers;

------------------------------------------------------------------------------------------------------
-- Structure
------------------------------------------------------------------------------------------------------
SELECT has_schema('vms', 'the private schema vms exists');
SELECT has_table('vms', 'servers', 'table vms.servers exists');
SELECT has_table('vms', 'vms', 'table vms.vms exists');
SELECT col_type_is('vms', 'servers', 'subnet', 'cidr', 'a server''s subnet is a cidr');
SELECT col_type_is('vms', 'vms', 'ip', 'inet', 'a VM''s address is an inet');
SELECT enum_has_labels('vms', 'vm_state', ARRAY['running', 'released'], 'VM states are running and released');
SELECT hasnt_column('vms', 'vms', 'private_key', 'no column for private keys');
SELECT results_eq(
    $$SELECT (conrelid::regclass::text || ' ' || conname) COLLATE "default" FROM pg_constraint
      WHERE connamespace = 'vms'::regnamespace AND contype <> 'n' ORDER BY 1$$,
    ARRAY['vms.servers servers_available_cpu_range', 'vms.servers servers_available_ips_range',
          'vms.servers servers_available_ram_range', 'vms.servers servers_name_key',
          'vms.servers servers_name_length', 'vms.servers servers_pkey',
          'vms.servers servers_subnet_ipv4', 'vms.servers servers_subnet_no_overlap',
          'vms.servers servers_total_cpu_positive', 'vms.servers servers_total_ram_positive',
          'vms.vms vms_certificate_pem', 'vms.vms vms_cpu_positive', 'vms.vms vms_ip_host',
          'vms.vms vms_owner_length', 'vms.vms vms_pkey', 'vms.vms vms_ram_positive',
          'vms.vms vms_released_at_state', 'vms.vms vms_server_id_fkey'],
    'the tables carry exactly the named constraints');
SELECT ok((SELECT indisunique AND pg_get_expr(indpred, indrelid) = '(state = ''running''::vms.vm_state)'
           FROM pg_index WHERE indexrelid = 'vms.vms_server_id_ip_live_key'::regclass),
          'a live VM''s address is unique per server (partial unique index on running VMs)');
SELECT ok((SELECT pg_get_indexdef(indexrelid) LIKE '%(available_ram, id) WHERE is_available'
           FROM pg_index WHERE indexrelid = 'vms.servers_best_fit_idx'::regclass),
          'a partial index matches the best-fit ORDER BY available_ram, id of available servers');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'vms.vms'::regclass), 'row level security is enabled on vms.vms');
SELECT policies_are('vms', 'vms', ARRAY['vms_owner_select'], 'vms.vms has exactly the owner policy');
SELECT policy_roles_are('vms', 'vms', 'vms_owner_select', ARRAY['app_user'], 'the owner policy binds app_user');

-- Who may execute what: exactly these grants (the owner aside), nothing to PUBLIC.
SELECT results_eq(
    $$SELECT (p.oid::regprocedure::text || ' ' || coalesce(
                 (SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM aclexplode(p.proacl) a
                  JOIN pg_roles r ON r.oid = a.grantee
                  WHERE a.privilege_type = 'EXECUTE' AND r.rolname <> 'platform_owner'), '-')) COLLATE "default"
      FROM pg_proc p
      WHERE p.pronamespace IN ('api'::regnamespace, 'vms'::regnamespace)
        AND (p.pronamespace = 'vms'::regnamespace OR p.proname IN
             ('allocate_vm', 'release_vm', 'list_my_vms', 'register_server', 'set_server_availability',
              'drain_server', 'list_servers'))
      ORDER BY 1$$,
    ARRAY['api.allocate_vm(integer,integer) app_user',
          'api.drain_server(text) operator',
          'api.list_my_vms(boolean) app_user',
          'api.list_servers() operator',
          'api.register_server(text,integer,integer,cidr) operator',
          'api.release_vm(bigint) app_user',
          'api.set_server_availability(text,boolean) operator',
          'vms._issue_certificate(bigint,text,text) -',
          'vms._lock_server(text) -',
          'vms._new_private_key() -',
          'vms._next_ip(bigint) -',
          'vms._place_vm(text,bigint,integer,integer,text) -',
          'vms._raise_no_capacity(integer,integer) -',
          'vms._require_size(integer,integer) -',
          'vms._server_json(vms.servers) -',
          'vms._take_capacity(integer,integer) -'],
    'each function is executable by exactly the roles that need it');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace IN ('api'::regnamespace, 'vms'::regnamespace)
      AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
$$, 'nothing in api or vms is executable by PUBLIC');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace IN ('api'::regnamespace, 'vms'::regnamespace) AND p.proowner <> 'platform_owner'::regrole
$$, 'every function of the domain is owned by platform_owner (the credential function too)');
SELECT results_eq($$SELECT p.proname::text COLLATE "default", l.lanname::text COLLATE "default" FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                    WHERE p.pronamespace = 'vms'::regnamespace AND l.lanname LIKE 'plpython%' ORDER BY 1$$,
                  $$VALUES ('_issue_certificate', 'plpython3u'), ('_new_private_key', 'plpython3u')$$,
                  'credentials are made in PL/Python (cryptography), by exactly two functions');
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace IN ('api'::regnamespace, 'vms'::regnamespace) AND p.prosecdef
      AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
$$, 'every SECURITY DEFINER function sets search_path');
SELECT ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = 'api.list_my_vms(boolean)'::regprocedure),
          'list_my_vms is SECURITY INVOKER (reads under row level security)');

------------------------------------------------------------------------------------------------------
-- Operator: the fleet
------------------------------------------------------------------------------------------------------
SET LOCAL ROLE operator;
SELECT is(api.register_server('small', 8192, 8, '10.0.0.0/29')::jsonb - 'server_id',
          '{"name": "small", "subnet": "10.0.0.0/29", "total_ram": 8192, "available_ram": 8192, "total_cpu": 8,
            "available_cpu": 8, "total_ips": 6, "available_ips": 6, "is_available": true}'::jsonb,
          'register_server returns the server, all of it available; a /29 has 6 host addresses');
SELECT is((api.register_server('big', 65536, 32, '10.0.1.0/24')::jsonb ->> 'total_ips')::int, 254,
          'a /24 has 254 host addresses');
SELECT is((api.register_server('tiny', 100000, 64, '10.0.2.0/30')::jsonb ->> 'available_ips')::int, 2,
          'a /30 has 2 host addresses');
SELECT is(api.set_server_availability('tiny', false)::jsonb -> 'is_available', 'false'::jsonb,
          'set_server_availability(false) marks a server unavailable');
SELECT is(test_helpers.error_of($$SELECT api.register_server('small', 1024, 1, '10.9.0.0/24')$$) ->> 'code', 'PT409',
          'a duplicate server name is 409');
SELECT is(test_helpers.error_of($$SELECT api.register_server('other', 1024, 1, '10.0.1.128/25')$$)
          - 'detail',
          '{"code": "PT409", "message": "subnet 10.0.1.128/25 overlaps the subnet of another server",
            "hint": "Each server needs its own addresses; list_servers shows the subnets in use."}'::jsonb,
          'an overlapping subnet is 409');
SELECT is(test_helpers.error_of($$SELECT api.register_server('other', 0, 1, '10.9.0.0/24')$$) ->> 'code', '22023',
          'total_ram 0 is 400');
SELECT is(test_helpers.error_of($$SELECT api.register_server('other', 1024, -1, '10.9.0.0/24')$$) ->> 'code', '22023',
          'negative total_cpu is 400');
SELECT is(test_helpers.error_of($$SELECT api.register_server('other', 1024, 1, '10.0.0.0/8')$$) ->> 'message',
          'subnet must be an IPv4 network from /16 to /30, got 10.0.0.0/8', 'a /8 is 400');
SELECT is(test_helpers.error_of($$SELECT api.register_server('other', 1024, 1, 'fd00::/120')$$) ->> 'code', '22023',
          'an IPv6 subnet is 400');
SELECT is(test_helpers.error_of($$SELECT api.register_server('', 1024, 1, '10.9.0.0/24')$$) ->> 'code', '22023',
          'an empty name is 400');
SELECT is(test_helpers.error_of($$SELECT api.set_server_availability('nope', true)$$) ->> 'code', 'PT404',
          'an unknown server is 404');
-- Input bounds (docs/limits.md): a server's name is at most 200 characters.
SELECT is(test_helpers.error_of($$SELECT api.register_server(repeat('n', 201), 1024, 1, '10.9.0.0/24')$$),
          '{"code": "22023", "message": "name must be at most 200 characters", "detail": "Got 201 characters.",
            "hint": "Send a shorter \"name\"."}'::jsonb,
          'register_server: a name over 200 characters is 400 naming the argument and its maximum');
SELECT throws_ok($$SELECT api.set_server_availability(repeat('n', 201), true)$$, '22023',
                 'name must be at most 200 characters', 'set_server_availability: a name over 200 characters is 400, not 404');
SELECT throws_ok($$SELECT api.drain_server(repeat('n', 201))$$, '22023',
                 'name must be at most 200 characters', 'drain_server: a name over 200 characters is 400, not 404');
SELECT is((SELECT count(*)::int FROM api.list_servers()), 3, 'list_servers shows the fleet');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, 1)$$) ->> 'code', '42501',
          'an operator cannot allocate VMs (42501)');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- Roles that may not allocate
------------------------------------------------------------------------------------------------------
SET LOCAL ROLE web_anon;
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, 1)$$) ->> 'code', '42501', 'web_anon cannot allocate (42501)');
SELECT is(test_helpers.error_of($$SELECT api.list_my_vms()$$) ->> 'code', '42501', 'web_anon cannot list VMs (42501)');
RESET ROLE;
SET LOCAL ROLE worker;
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, 1)$$) ->> 'code', '42501', 'worker cannot allocate (42501)');
SELECT is(test_helpers.error_of($$SELECT api.release_vm(1)$$) ->> 'code', '42501', 'worker cannot release (42501)');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- app_user: validation
------------------------------------------------------------------------------------------------------
SET LOCAL ROLE app_user;
SELECT set_config('request.jwt.claims', '{"role":"app_user"}', true);
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, 1)$$) - 'detail' - 'hint',
          '{"code": "PT401", "message": "this call needs a signed-in user"}'::jsonb,
          'a token without sub is 401 (PT401)');
SELECT is(test_helpers.error_of($$SELECT * FROM api.list_my_vms()$$) ->> 'code', 'PT401', 'list_my_vms without sub is 401');
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(0, 1)$$) - 'detail',
          '{"code": "22023", "message": "ram must be a positive integer (MB), got 0",
            "hint": "Send \"ram\" as the VM''s memory in MB, for example 4096."}'::jsonb,
          'ram 0 is 400 (22023) with a clear message');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(-5, 1)$$) ->> 'code', '22023', 'negative ram is 400');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(NULL, 1)$$) ->> 'message', 'ram must be a positive integer (MB), got null',
          'missing ram is 400');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, 0)$$) ->> 'message', 'cpu must be a positive integer, got 0',
          'cpu 0 is 400');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, NULL)$$) ->> 'code', '22023', 'missing cpu is 400');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, '1.5')$$) ->> 'code', '22P02', 'a fractional cpu is 400 (22P02)');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(200000, 1)$$) - 'hint',
          '{"code": "22023", "message": "a VM of 200000 MB RAM and 1 CPU is larger than any server",
            "detail": "The largest server has 100000 MB RAM; the most CPUs on one server is 64."}'::jsonb,
          'larger than any server (even an unavailable one) is 400 saying so');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1024, 65)$$) ->> 'code', '22023', 'more CPUs than any server is 400');

------------------------------------------------------------------------------------------------------
-- app_user: allocation, best fit, addresses, credentials
------------------------------------------------------------------------------------------------------
CREATE TEMP TABLE answers (label text PRIMARY KEY, answer json);
GRANT ALL ON answers TO app_user, operator;
INSERT INTO answers VALUES ('a1', api.allocate_vm(4096, 2));
SELECT is((SELECT array_agg(k ORDER BY k) FROM answers, json_object_keys(answer) k WHERE label = 'a1'),
          ARRAY['cpu', 'ip', 'pem_file_details', 'ram', 'vm_id'], 'allocate_vm answers vm_id, ip, ram, cpu, pem_file_details');
SELECT is((SELECT answer ->> 'ip' FROM answers WHERE label = 'a1'), '10.0.0.1',
          'best fit: the smallest server that fits, its first host address');
SELECT alike((SELECT answer -> 'pem_file_details' ->> 'certificate' FROM answers WHERE label = 'a1'),
            E'-----BEGIN CERTIFICATE-----\n%-----END CERTIFICATE-----\n', 'the certificate is PEM');
SELECT alike((SELECT answer -> 'pem_file_details' ->> 'key' FROM answers WHERE label = 'a1'),
            E'-----BEGIN PRIVATE KEY-----\n%-----END PRIVATE KEY-----\n', 'the key is PEM (PKCS#8)');
RESET ROLE;
SELECT is((SELECT pg_temp.check_credentials(answer)::jsonb FROM answers WHERE label = 'a1'),
          jsonb_build_object('key_matches', true, 'curve', 'secp256r1',
                             'cn', 'vm-' || (SELECT answer ->> 'vm_id' FROM answers WHERE label = 'a1'),
                             'san_ips', jsonb_build_array('10.0.0.1')),
          'the key is the certificate''s key (EC P-256); the certificate names the VM and its IP');
SELECT is((SELECT certificate FROM vms.vms WHERE id = (SELECT (answer ->> 'vm_id')::bigint FROM answers WHERE label = 'a1')),
          (SELECT answer -> 'pem_file_details' ->> 'certificate' FROM answers WHERE label = 'a1'),
          'the certificate is stored');
SELECT is_empty($$SELECT FROM vms.vms v WHERE v::text LIKE '%PRIVATE KEY%'
                  UNION ALL SELECT FROM vms.servers s WHERE s::text LIKE '%PRIVATE KEY%'$$,
                'the private key is stored nowhere in the schema');
SELECT test_helpers.as_user('alice');
INSERT INTO answers VALUES ('a2', api.allocate_vm(4096, 2));
SELECT is((SELECT answer ->> 'ip' FROM answers WHERE label = 'a2'), '10.0.0.2', 'the next VM gets the next address');
SELECT isnt((SELECT answer -> 'pem_file_details' ->> 'key' FROM answers WHERE label = 'a2'),
            (SELECT answer -> 'pem_file_details' ->> 'key' FROM answers WHERE label = 'a1'), 'each VM gets a fresh key');
INSERT INTO answers VALUES ('a3', api.allocate_vm(60000, 4));
SELECT is((SELECT answer ->> 'ip' FROM answers WHERE label = 'a3'), '10.0.1.1',
          'a large request still finds room on the big server (small ones were filled first)');
RESET ROLE;
SELECT results_eq($$SELECT name COLLATE "default", available_ram, available_cpu, available_ips FROM vms.servers ORDER BY name$$,
                  $$VALUES ('big'::text, 5536, 28, 253), ('small', 0, 4, 4), ('tiny', 100000, 64, 2)$$,
                  'each placement took its RAM, CPU and one address from its server');
SELECT test_helpers.as_user('alice');

-- no room
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(8192, 1)$$) - 'detail',
          jsonb_build_object('code', 'PGRST',
              'message', '{"code" : "PT503", "message" : "no capacity for a VM of 8192 MB RAM and 1 CPU", "details" : "No available server has that much free RAM and CPU right now.", "hint" : "Retry later: capacity returns as VMs are released and servers are added."}',
              'hint', NULL),
          'no server with room: PGRST error whose body says no capacity for that size (PT503)');
SELECT is((test_helpers.error_of($$SELECT api.allocate_vm(8192, 1)$$) ->> 'detail')::jsonb,
          '{"status": 503, "headers": {"Retry-After": "5"}}'::jsonb, '... answered 503 with Retry-After: 5');
-- A request only an unavailable (drained) server could hold is 400: a 503 would have it retried for ever.
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(70000, 1)$$),
          '{"code": "22023", "message": "a VM of 70000 MB RAM and 1 CPU is larger than any available server",
            "detail": "Only unavailable (drained) servers are that large. The largest available server has 65536 MB RAM; the most CPUs on one available server is 32.",
            "hint": "Ask for a smaller VM, or ask an operator to make a larger server available."}'::jsonb,
          'fits only the unavailable server: 400 saying so, not a 503 for ever');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(8192, 33)$$) ->> 'code', '22023',
          'RAM and CPU count together: 33 CPUs fit only the unavailable tiny server: 400');

-- list
SELECT results_eq($$SELECT ip, ram, cpu, state FROM api.list_my_vms()$$,
                  $$VALUES ('10.0.0.1'::text, 4096, 2, 'running'::text), ('10.0.0.2', 4096, 2, 'running'), ('10.0.1.1', 60000, 4, 'running')$$,
                  'list_my_vms shows the caller''s running VMs');
SELECT is_empty($$SELECT FROM api.list_my_vms(true) l WHERE l::text LIKE '%PRIVATE KEY%'$$, 'list_my_vms never shows a key');

------------------------------------------------------------------------------------------------------
-- Isolation between users (functions and direct SELECT)
------------------------------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM vms.vms), 3, 'alice SELECTs her 3 VMs from vms.vms directly');
SELECT test_helpers.as_user('bob');
INSERT INTO answers VALUES ('b1', api.allocate_vm(1024, 1));
SELECT is((SELECT answer ->> 'ip' FROM answers WHERE label = 'b1'), '10.0.1.2', 'bob gets a VM on the big server');
SELECT results_eq($$SELECT ip FROM api.list_my_vms(true)$$, ARRAY['10.0.1.2'], 'bob''s list shows only his VM');
SELECT results_eq($$SELECT owner FROM vms.vms$$, ARRAY['bob'], 'bob''s direct SELECT on vms.vms shows only his row (RLS)');
SELECT is_empty($$SELECT FROM vms.vms WHERE owner = 'alice'$$, 'bob cannot see alice''s rows even by asking for them');
SELECT is(test_helpers.error_of(format('SELECT api.release_vm(%s)', (SELECT answer ->> 'vm_id' FROM answers WHERE label = 'a1')))
          - 'hint',
          jsonb_build_object('code', 'PT404', 'message', format('VM %s does not exist', (SELECT answer ->> 'vm_id' FROM answers WHERE label = 'a1')),
                             'detail', NULL),
          'bob releasing alice''s VM is 404, as if it did not exist');
SELECT is(test_helpers.error_of('SELECT api.release_vm(999999999)') ->> 'code', 'PT404', 'an unknown VM is 404');
SELECT is(test_helpers.error_of('SELECT count(*) FROM vms.servers') ->> 'code', '42501', 'app_user cannot read servers directly');
SELECT is(test_helpers.error_of($$UPDATE vms.vms SET owner = 'bob'$$) ->> 'code', '42501', 'app_user cannot write vms.vms');
SELECT is(test_helpers.error_of($$SELECT vms._new_private_key()$$) ->> 'code', '42501',
          'app_user cannot call the credential functions');
SELECT is(test_helpers.error_of($$SELECT vms._place_vm('bob', 1, 1, 1, 'k')$$) ->> 'code', '42501', 'app_user cannot call private helpers');
SELECT set_config('request.jwt.claims', '', true);
SELECT is_empty($$SELECT FROM vms.vms$$, 'without claims, a direct SELECT shows no rows');
RESET ROLE;
SELECT is((SELECT state::text FROM vms.vms WHERE id = (SELECT (answer ->> 'vm_id')::bigint FROM answers WHERE label = 'a1')),
          'running', 'alice''s VM is untouched');

------------------------------------------------------------------------------------------------------
-- Release, address reuse
------------------------------------------------------------------------------------------------------
SELECT test_helpers.as_user('alice');
SELECT is((SELECT (api.release_vm((answer ->> 'vm_id')::bigint)::jsonb - 'released_at') FROM answers WHERE label = 'a1'),
          jsonb_build_object('vm_id', (SELECT (answer ->> 'vm_id')::bigint FROM answers WHERE label = 'a1'),
                             'ip', '10.0.0.1', 'state', 'released'),
          'alice releases her VM');
RESET ROLE;
SELECT results_eq($$SELECT state::text, released_at IS NOT NULL FROM vms.vms
                    WHERE id = (SELECT (answer ->> 'vm_id')::bigint FROM answers WHERE label = 'a1')$$,
                  $$VALUES ('released'::text, true)$$, 'the VM is released, with its release time');
SELECT results_eq($$SELECT available_ram, available_cpu, available_ips FROM vms.servers WHERE name = 'small'$$,
                  $$VALUES (4096, 6, 5)$$, 'its RAM, CPU and address went back to the server');
SELECT test_helpers.as_user('alice');
SELECT is(test_helpers.error_of(format('SELECT api.release_vm(%s)', (SELECT answer ->> 'vm_id' FROM answers WHERE label = 'a1')))
          ->> 'code', 'PT409', 'releasing twice is 409 (already released)');
SELECT results_eq($$SELECT ip, state FROM api.list_my_vms(true) WHERE ip = '10.0.0.1'$$,
                  $$VALUES ('10.0.0.1'::text, 'released'::text)$$, 'list_my_vms(true) shows released VMs too');
SELECT is((SELECT count(*)::int FROM api.list_my_vms()), 2, 'list_my_vms() shows only running ones');
INSERT INTO answers VALUES ('a4', api.allocate_vm(2048, 1));
SELECT is((SELECT answer ->> 'ip' FROM answers WHERE label = 'a4'), '10.0.0.1', 'a released address is reused (lowest free first)');
INSERT INTO answers VALUES ('a5', api.allocate_vm(1024, 1));
SELECT is((SELECT answer ->> 'ip' FROM answers WHERE label = 'a5'), '10.0.0.3', 'then the next free one');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- Addresses are capacity too; availability; drain
------------------------------------------------------------------------------------------------------
SET LOCAL ROLE operator;
SELECT api.set_server_availability('small', false);
SELECT api.set_server_availability('big', false);
SELECT is(api.set_server_availability('tiny', true)::jsonb -> 'is_available', 'true'::jsonb, 'tiny is available again');
RESET ROLE;
SELECT test_helpers.as_user('carol');
INSERT INTO answers VALUES ('c1', api.allocate_vm(1, 1)), ('c2', api.allocate_vm(1, 1));
SELECT results_eq($$SELECT answer ->> 'ip' FROM answers WHERE label IN ('c1', 'c2') ORDER BY 1$$,
                  ARRAY['10.0.2.1', '10.0.2.2'], 'a /30 server takes two VMs');
SELECT is(test_helpers.error_of($$SELECT api.allocate_vm(1, 1)$$) ->> 'code', 'PGRST',
          'a full subnet is no capacity (503), however much RAM is left');
RESET ROLE;
SET LOCAL ROLE operator;
SELECT is((SELECT (d->>'running_vms')::int FROM api.drain_server('tiny') d), 2, 'drain_server reports the running VMs left');
SELECT is((api.drain_server('tiny') -> 'server' ->> 'is_available'), 'false', 'a drained server is unavailable');
SELECT is((SELECT json_agg(v ->> 'owner') FROM api.drain_server('tiny') d, json_array_elements(d -> 'vms') v)::jsonb,
          '["carol", "carol"]'::jsonb, 'drain_server lists whose VMs are on it');
SELECT is(test_helpers.error_of($$SELECT api.drain_server('nope')$$) ->> 'code', 'PT404', 'draining an unknown server is 404');
RESET ROLE;
SELECT test_helpers.as_user('carol');
SELECT is((test_helpers.error_of($$SELECT api.allocate_vm(1, 1)$$) ->> 'message')::jsonb ->> 'details',
          'No server is available right now (all are drained or marked unavailable).',
          'every server unavailable: 503 (the fleet is down for now), not a 400 about the size');
RESET ROLE;
SET LOCAL ROLE operator;
SELECT is(test_helpers.error_of($$SELECT * FROM api.list_my_vms()$$) ->> 'code', '42501', 'an operator has no VMs to list (42501)');
RESET ROLE;
SET LOCAL ROLE app_user;
SELECT is(test_helpers.error_of($$SELECT api.drain_server('tiny')$$) ->> 'code', '42501', 'app_user cannot drain servers');
SELECT is(test_helpers.error_of($$SELECT api.register_server('x', 1, 1, '10.8.0.0/24')$$) ->> 'code', '42501', 'app_user cannot register servers');
RESET ROLE;

------------------------------------------------------------------------------------------------------
-- The accounting invariant, and the constraints on their own (as the owner)
------------------------------------------------------------------------------------------------------
SELECT is_empty($$
    SELECT s.name FROM vms.servers s
    LEFT JOIN LATERAL (SELECT coalesce(sum(v.ram), 0) AS ram, coalesce(sum(v.cpu), 0) AS cpu, count(*) AS n
                       FROM vms.vms v WHERE v.server_id = s.id AND v.state = 'running') l ON true
    WHERE s.available_ram + l.ram <> s.total_ram OR s.available_cpu + l.cpu <> s.total_cpu
       OR s.available_ips + l.n <> s.total_ips
$$, 'for every server: available + what its running VMs hold = total (RAM, CPU, addresses)');

SET LOCAL ROLE platform_owner;
SELECT throws_ok($$UPDATE vms.servers SET available_ram = available_ram - 4097 WHERE name = 'small'$$, '23514',
                 'new row for relation "servers" violates check constraint "servers_available_ram_range"',
                 'overcommitting RAM is rejected by the table');
SELECT throws_ok($$UPDATE vms.servers SET available_ram = total_ram + 1 WHERE name = 'small'$$, '23514', NULL,
                 'available RAM above the total is rejected');
SELECT throws_ok($$UPDATE vms.servers SET available_cpu = -1 WHERE name = 'small'$$, '23514',
                 'new row for relation "servers" violates check constraint "servers_available_cpu_range"',
                 'overcommitting CPU is rejected');
SELECT throws_ok($$UPDATE vms.servers SET available_ips = -1 WHERE name = 'small'$$, '23514',
                 'new row for relation "servers" violates check constraint "servers_available_ips_range"',
                 'handing out more addresses than the subnet has is rejected');
SELECT throws_ok($$INSERT INTO vms.servers (name, total_ram, total_cpu, available_ram, available_cpu, subnet, available_ips)
                   VALUES ('x', 0, 1, 0, 1, '10.7.0.0/24', 254)$$, '23514', NULL, 'a server has RAM');
SELECT throws_ok($$INSERT INTO vms.servers (name, total_ram, total_cpu, available_ram, available_cpu, subnet, available_ips)
                   VALUES ('x', 1, 1, 1, 1, '10.0.0.4/30', 2)$$, '23P01', NULL, 'overlapping subnets are rejected');
SELECT throws_ok($$INSERT INTO vms.servers (name, total_ram, total_cpu, available_ram, available_cpu, subnet, available_ips)
                   VALUES ('x', 1, 1, 1, 1, '10.7.0.0/31', 0)$$, '23514',
                 'new row for relation "servers" violates check constraint "servers_subnet_ipv4"', 'a /31 is rejected');
SELECT throws_ok($$INSERT INTO vms.vms (server_id, owner, ram, cpu, ip, certificate)
                   SELECT server_id, 'mallory', 1, 1, ip, certificate FROM vms.vms WHERE state = 'running' LIMIT 1$$,
                 '23505', NULL, 'a live address cannot be handed out twice on a server');
SELECT lives_ok($$INSERT INTO vms.vms (server_id, owner, ram, cpu, ip, certificate, state, released_at)
                  SELECT server_id, 'mallory', 1, 1, ip, certificate, 'released', now() FROM vms.vms WHERE state = 'running' LIMIT 1$$,
                'released VMs keep their (now reusable) address in history');
SELECT throws_ok($$UPDATE vms.vms SET state = 'released' WHERE owner = 'alice' AND state = 'running'$$, '23514',
                 'new row for relation "vms" violates check constraint "vms_released_at_state"',
                 'a released VM has a release time');
SELECT throws_ok($$UPDATE vms.vms SET ip = '10.0.0.9/24' WHERE owner = 'alice'$$, '23514',
                 'new row for relation "vms" violates check constraint "vms_ip_host"', 'a VM''s address is a host (/32)');
SELECT throws_ok($$UPDATE vms.vms SET ram = 0 WHERE owner = 'alice'$$, '23514', NULL, 'a VM has RAM');
SELECT throws_ok($$UPDATE vms.vms SET certificate = 'nope' WHERE owner = 'alice'$$, '23514',
                 'new row for relation "vms" violates check constraint "vms_certificate_pem"', 'the certificate is PEM');
SELECT throws_ok($$INSERT INTO vms.vms (server_id, owner, ram, cpu, ip, certificate) VALUES (-1, 'x', 1, 1, '10.6.0.1', '-----BEGIN CERTIFICATE-----')$$,
                 '23503', NULL, 'a VM is on a known server');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
