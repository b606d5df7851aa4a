-- Disk usage measured on each host: the host agent reports what its container engine's data
-- actually takes and what its filesystem has free (report_host_disk, sql/workspaces.sql). Placement
-- still goes by the reservations (hosts.disk_used, the sum of the workspaces' disk_gb), which are
-- exact and move in the same transaction as the workspaces; the measurement is what an operator
-- compares them with (list_hosts).
-- (Comments edited after this migration ran; its statements are unchanged.)
-- earlier checksum: 21ee5b9487349aa47477103305ff779832b892c3d32006518ed5c6dfdb80325b
SET LOCAL ROLE platform_owner;

ALTER TABLE workspaces.hosts
    ADD COLUMN disk_measured_bytes bigint CONSTRAINT hosts_disk_measured_bytes_range CHECK (disk_measured_bytes >= 0),
    ADD COLUMN disk_free_bytes bigint CONSTRAINT hosts_disk_free_bytes_range CHECK (disk_free_bytes >= 0),
    ADD COLUMN disk_measured_at timestamptz;
COMMENT ON COLUMN workspaces.hosts.disk_measured_bytes IS
    'Bytes the host''s container engine uses (images, containers, volumes), as its agent last reported; null: never reported.';
COMMENT ON COLUMN workspaces.hosts.disk_free_bytes IS 'Bytes free on the filesystem of the engine''s data, as last reported.';
COMMENT ON COLUMN workspaces.hosts.disk_measured_at IS 'When the agent last reported the host''s disk (report_host_disk).';
