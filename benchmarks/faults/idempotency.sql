-- Scenario 6 of benchmarks/faults/run.sh: a test-only function that writes one row per run, so that SQL can
-- count how often each Idempotency-Key was applied. Installed in the suite's own cluster only (never by
-- migrations), dropped after the check. It sleeps 0.3 s so that the kill and the restart find calls in flight (some of
-- them commit after their gateway died: their retries must get the stored answer, not a second row).
SET client_min_messages = warning;
CREATE SCHEMA faults_idem;
CREATE TABLE faults_idem.applied (id bigserial PRIMARY KEY, tag text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT USAGE ON SCHEMA faults_idem TO app_user;
GRANT SELECT, INSERT ON faults_idem.applied TO app_user;   -- SELECT: INSERT ... RETURNING reads the id
GRANT USAGE ON SEQUENCE faults_idem.applied_id_seq TO app_user;
CREATE FUNCTION api.faults_apply_once(tag text) RETURNS json
LANGUAGE plpgsql VOLATILE SET search_path = '' AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO faults_idem.applied (tag) VALUES (faults_apply_once.tag) RETURNING id INTO v_id;
    PERFORM pg_sleep(0.3);
    RETURN json_build_object('tag', faults_apply_once.tag, 'id', v_id);
END
$$;
REVOKE ALL ON FUNCTION api.faults_apply_once(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.faults_apply_once(text) TO app_user;
NOTIFY pgrst, 'reload schema';
