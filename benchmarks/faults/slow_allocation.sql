-- Test-only (benchmarks/faults/run.sh, scenario 5; never shipped by migrations): every VM insert counts
-- one attempt in faults_test.vm_attempts and then sleeps 3 s, so that the suite can kill -9 the
-- gateway holding the allocation. A sequence, not a table: nextval is not undone when the attempt's
-- transaction rolls back, so the count is of the allocations that REACHED the database, committed or not.
-- Removed afterwards with DROP SCHEMA faults_test CASCADE (which drops the trigger).
\set ON_ERROR_STOP 1
CREATE SCHEMA faults_test;
CREATE SEQUENCE faults_test.vm_attempts;
CREATE FUNCTION faults_test.slow_vm_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    PERFORM nextval('faults_test.vm_attempts');
    PERFORM pg_sleep(3);
    RETURN NEW;
END
$$;
CREATE TRIGGER faults_test_slow_vm_insert BEFORE INSERT ON vms.vms
    FOR EACH ROW EXECUTE FUNCTION faults_test.slow_vm_insert();
