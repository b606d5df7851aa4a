-- pgbench: get_widget of a random seeded widget ('seed-1' .. 'seed-<n>'). One call per transaction.
-- Variables: -D n=<number of seeded widgets>
\set i random(1, :n)
SELECT api.get_widget('seed-' || :i);
