-- The build queue and the outbox are queues: every claim and completion updates a row out of a partial
-- index (builds_claim_idx, notifications_unsent_idx), leaving a dead entry at the head of the index
-- that every later claim walks until VACUUM removes it. With the default thresholds (a share of the
-- table) the dead head grows for minutes: measured, the index scan of one claim read 219 pages and took
-- 4.5 ms after 30,000 jobs, and 4 pages / 0.08 ms right after a VACUUM. So vacuum these tables after a
-- fixed number of changes, at full speed (config/postgresql.conf has autovacuum look every 2 s).
SET LOCAL ROLE platform_owner;

ALTER TABLE workspaces.builds SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 20000);
ALTER TABLE workspaces.notifications SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0);
