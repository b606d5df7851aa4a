-- pgbench: associate_widgets / remove_association on the seeded widgets, without business errors
-- (pgbench 15 aborts a client on any error). It relies on the seed's deterministic shape
-- (benchmarks/seed/seed-widgets.sql): widgets 2m-1 and 2m form pair m; when m % 10 is 1..9 both have
-- slot 1 of the same port ((m + m/10) % 3 -> P, R, Q), associated with each other when m % 10 <= 6,
-- free otherwise. Each client works on its own pairs (v = client_id + clients * r), so no two clients
-- touch a pair at once: an associated pair is removed then re-associated, a free pair associated then
-- removed, leaving the data as seeded. TWO api calls (two transactions) per pgbench transaction.
-- Variables: -D n=<number of seeded widgets> -D clients=<same as -c>
\set r random(0, (9 * (:n / 20)) / :clients - 1)
\set v :client_id + :clients * :r
\set m (:v / 9) * 10 + :v % 9 + 1
\set a 2 * :m - 1
\set b 2 * :m
\set p (:m + :m / 10) % 3 + 1
\if :m % 10 <= 6
SELECT api.remove_association('seed-' || :a, 'seed-' || :b, (ARRAY['P', 'R', 'Q'])[:p]);
SELECT api.associate_widgets('seed-' || :b, 'seed-' || :a, (ARRAY['P', 'R', 'Q'])[:p]);
\else
SELECT api.associate_widgets('seed-' || :a, 'seed-' || :b, (ARRAY['P', 'R', 'Q'])[:p]);
SELECT api.remove_association('seed-' || :b, 'seed-' || :a, (ARRAY['P', 'R', 'Q'])[:p]);
\endif
