-- The mixed ceiling's associate_widgets share (12.5%, benchmarks/bench.sh runs it with
-- ceiling_get_widget.sql@4, ceiling_add_widget.sql@2, mixed_associate.sql@1, mixed_remove.sql@1: the
-- loader's widgets-mixed mix). pgbench 15 aborts a client on any error, so each client works on its
-- own `ring` seeded pairs as a ring: pairs ring_oldest .. ring_next-1 (mod ring) are associated, the
-- others free (benchmarks/pgbench/mixed_prepare.sql sets pairs 0 .. ring/2-1 associated before each
-- run; -D ring_next=ring/2 -D ring_oldest=0). This script associates the next free pair; only when all
-- are associated (never in practice: the walk starts ring/2 from both ends) it removes the oldest
-- association instead, so no call ever fails. (Names must not clash with the other scripts' variables:
-- a client's variables are shared by all its scripts and persist between transactions.)
-- Pair j of client c: v = c + clients * j, m = (v / 9) * 10 + v % 9 + 1 (m % 10 != 0: both widgets have
-- slot 1 of port (m + m/10) % 3), widgets seed-(2m-1) and seed-2m (benchmarks/seed/seed-widgets.sql).
-- Variables: -D ring=<pairs per client> -D clients=<same as -c> -D ring_next=<ring/2> -D ring_oldest=0.
\if :ring_next - :ring_oldest < :ring
\set j :ring_next % :ring
\set ring_next :ring_next + 1
\set op 1
\else
\set j :ring_oldest % :ring
\set ring_oldest :ring_oldest + 1
\set op 0
\endif
\set v :client_id + :clients * :j
\set m (:v / 9) * 10 + :v % 9 + 1
\set a 2 * :m - 1
\set b 2 * :m
\set p (:m + :m / 10) % 3 + 1
\if :op = 1
SELECT api.associate_widgets(widget1_sn => 'seed-' || :a::text, widget2_sn => 'seed-' || :b::text,
                             port => (ARRAY['P', 'R', 'Q'])[:p]);
\else
SELECT api.remove_association(widget1_sn => 'seed-' || :a::text, widget2_sn => 'seed-' || :b::text,
                              port => (ARRAY['P', 'R', 'Q'])[:p]);
\endif
