-- Benchmark-only: the two alternative ways to take a server's capacity that the product's design
-- weighs against SKIP LOCKED, as private functions of schema vms_bench (created here by run.sh, never by migrations),
-- plus the wrapper pgbench calls. All three strategies share everything but the pick-and-take step:
-- the address search, the credentials and the insert are the production vms._place_vm, and the
-- SKIP LOCKED strategy is the production vms._take_capacity itself (what api.allocate_vm runs).
-- Run as the superuser; objects belong to platform_owner so they may call the private vms helpers.
DROP SCHEMA IF EXISTS vms_bench CASCADE;
SET LOCAL ROLE platform_owner;
CREATE SCHEMA vms_bench;
COMMENT ON SCHEMA vms_bench IS 'Benchmark-only (benchmarks/vm-allocation): alternative allocation strategies.';

-- One row per call: which strategy, what happened, how many retries (optimistic: failed version checks;
-- skip_locked: 1 when every fitting server was locked and it waited), and the time spent inside the
-- function (lock waits and retries included; the commit is not).
CREATE UNLOGGED TABLE vms_bench.outcomes (
    strategy text NOT NULL,
    outcome  text NOT NULL,       -- ok | no_capacity | gave_up | <SQLSTATE>
    retries  integer NOT NULL,
    micros   double precision NOT NULL,
    first    boolean NOT NULL DEFAULT false   -- the session's first call (imports Python's cryptography)
);

-- Pessimistic: lock the best-fitting server FOR UPDATE, waiting for it if another
-- allocation holds it (re-checked when the holder commits), then take the capacity.
CREATE FUNCTION vms_bench._take_pessimistic(p_ram integer, p_cpu integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT s.id INTO v_id FROM vms.servers s
    WHERE s.is_available AND s.available_ram >= p_ram AND s.available_cpu >= p_cpu AND s.available_ips > 0
    ORDER BY s.available_ram, s.id
    LIMIT 1
    FOR UPDATE;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE vms.servers s
    SET available_ram = s.available_ram - p_ram, available_cpu = s.available_cpu - p_cpu,
        available_ips = s.available_ips - 1
    WHERE s.id = v_id;
    RETURN v_id;
END
$$;

-- Optimistic: read the best-fitting server without a lock, noting its row version (xmin, which
-- PostgreSQL changes on every update: a version column, for free), then update it only if the version
-- is unchanged; otherwise roll back (a subtransaction, where the textbook version rolls back the
-- transaction) and read again, up to 20 attempts. The rollback matters: in READ COMMITTED the UPDATE
-- whose version check failed still locks the row, and holding it while retrying on another server
-- deadlocked (40P01) in a first version of this benchmark.
CREATE FUNCTION vms_bench._take_optimistic(p_ram integer, p_cpu integer, OUT server_id bigint, OUT retries integer)
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_version xid;
BEGIN
    retries := 0;
    LOOP
        BEGIN
            SELECT s.id, s.xmin INTO server_id, v_version FROM vms.servers s
            WHERE s.is_available AND s.available_ram >= p_ram AND s.available_cpu >= p_cpu AND s.available_ips > 0
            ORDER BY s.available_ram, s.id
            LIMIT 1;
            IF server_id IS NULL THEN
                RETURN;
            END IF;
            UPDATE vms.servers s
            SET available_ram = s.available_ram - p_ram, available_cpu = s.available_cpu - p_cpu,
                available_ips = s.available_ips - 1
            WHERE s.id = server_id AND s.xmin = v_version;
            IF FOUND THEN
                RETURN;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'VMRTY';
        EXCEPTION WHEN SQLSTATE 'VMRTY' THEN
            retries := retries + 1;
        END;
        IF retries >= 20 THEN
            server_id := NULL;
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- pgbench's allocation: take capacity with the strategy, place the VM as allocate_vm does (address,
-- credentials, insert) for user c<client>, and record the outcome. Never raises (pgbench would abort
-- the client): errors are recorded by SQLSTATE.
CREATE FUNCTION vms_bench.allocate(p_strategy text, p_client integer, p_ram integer, p_cpu integer)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_t0      timestamptz := clock_timestamp();
    v_server  bigint;
    v_retries integer := 0;
    v_outcome text := 'ok';
    v_key     text;
    v_first   boolean := current_setting('vms_bench.warm', true) IS NULL;
BEGIN
    PERFORM set_config('vms_bench.warm', 'yes', false);
    BEGIN
        v_key := vms._new_private_key();      -- as allocate_vm: before any lock
        CASE p_strategy
            WHEN 'pessimistic' THEN
                v_server := vms_bench._take_pessimistic(p_ram, p_cpu);
            WHEN 'optimistic' THEN
                SELECT t.server_id, t.retries INTO v_server, v_retries FROM vms_bench._take_optimistic(p_ram, p_cpu) t;
            WHEN 'skip_locked' THEN
                SELECT t.server_id, t.waited::integer INTO v_server, v_retries FROM vms._take_capacity(p_ram, p_cpu) t;
        END CASE;
        IF v_server IS NULL THEN
            v_outcome := CASE WHEN p_strategy = 'optimistic' AND v_retries >= 20 THEN 'gave_up' ELSE 'no_capacity' END;
        ELSE
            PERFORM vms._place_vm('c' || p_client, v_server, p_ram, p_cpu, v_key);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        v_outcome := SQLSTATE;
    END;
    INSERT INTO vms_bench.outcomes VALUES (p_strategy, v_outcome, v_retries,
                                           extract(epoch FROM clock_timestamp() - v_t0) * 1e6, v_first);
END
$$;

-- pgbench's release: when user c<client> holds p_keep running VMs, release the oldest with
-- api.release_vm (as that user), so every client holds at most p_keep VMs and the fleet never fills.
CREATE FUNCTION vms_bench.release_excess(p_client integer, p_keep integer)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_owner text := 'c' || p_client;
    v_id    bigint;
BEGIN
    IF (SELECT count(*) FROM vms.vms v WHERE v.owner = v_owner AND v.state = 'running') < p_keep THEN
        RETURN;
    END IF;
    SELECT v.id INTO v_id FROM vms.vms v WHERE v.owner = v_owner AND v.state = 'running' ORDER BY v.id LIMIT 1;
    PERFORM set_config('request.jwt.claims', json_build_object('sub', v_owner)::text, true);
    PERFORM api.release_vm(v_id);
EXCEPTION WHEN OTHERS THEN
    INSERT INTO vms_bench.outcomes VALUES ('release', SQLSTATE, 0, 0);
END
$$;

-- A fresh fleet of p_servers identical servers (p_ram MB, p_cpu CPUs, a /24 each) and no VMs.
CREATE FUNCTION vms_bench.reset_fleet(p_servers integer, p_ram integer, p_cpu integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
BEGIN
    TRUNCATE vms.vms, vms.servers, vms_bench.outcomes RESTART IDENTITY;
    INSERT INTO vms.servers (name, total_ram, total_cpu, available_ram, available_cpu, subnet, available_ips)
    SELECT format('bench-%s', g), p_ram, p_cpu, p_ram, p_cpu,
           set_masklen(('10.0.0.0'::inet + (g::bigint * 256)), 24)::cidr, 254
    FROM generate_series(0, p_servers - 1) g;
END
$$;
