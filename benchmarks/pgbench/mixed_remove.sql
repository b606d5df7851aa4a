-- The mixed ceiling's remove_association share (12.5%): removes the oldest association of this
-- client's ring of pairs (see mixed_associate.sql); only when none is associated (never in practice)
-- it associates the next pair instead, so no call ever fails.
-- Variables: -D ring=<pairs per client> -D clients=<same as -c> -D ring_next=<ring/2> -D ring_oldest=0.
\if :ring_next > :ring_oldest
\set j :ring_oldest % :ring
\set ring_oldest :ring_oldest + 1
\set op 0
\else
\set j :ring_next % :ring
\set ring_next :ring_next + 1
\set op 1
\endif
\set v :client_id + :clients * :j
\set m (:v / 9) * 10 + :v % 9 + 1
\set a 2 * :m - 1
\set b 2 * :m
\set p (:m + :m / 10) % 3 + 1
\if :op = 0
SELECT api.remove_association(widget1_sn => 'seed-' || :a::text, widget2_sn => 'seed-' || :b::text,
                              port => (ARRAY['P', 'R', 'Q'])[:p]);
\else
SELECT api.associate_widgets(widget1_sn => 'seed-' || :a::text, widget2_sn => 'seed-' || :b::text,
                             port => (ARRAY['P', 'R', 'Q'])[:p]);
\endif
