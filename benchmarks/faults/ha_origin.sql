-- Test-only, installed by the fault suite on its HA cluster (benchmarks/faults/ha.sh): which member
-- committed each widget, to show that two leaders never acknowledged writes at the same time. The port
-- tells the members apart (each listens on its own); `at` is the member's clock (one machine, one clock).
CREATE SCHEMA faults_ha;
CREATE TABLE faults_ha.origin (serial text NOT NULL, port int, at timestamptz NOT NULL);
CREATE INDEX ON faults_ha.origin (at);
-- SECURITY DEFINER: the gateway's roles may not write the suite's schema.
CREATE FUNCTION faults_ha.record_origin() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO faults_ha.origin VALUES (NEW.serial_number, inet_server_port(), clock_timestamp());
    RETURN NULL;
END $$;
CREATE TRIGGER faults_ha_origin AFTER INSERT ON widgets.widgets
    FOR EACH ROW EXECUTE FUNCTION faults_ha.record_origin();
