-- The ceiling for add_widget: pgbench calling the SQL function directly (benchmarks/bench.sh).
-- Serials are unique per run (-D prefix=<number>): 'pgb-<prefix>-<client>-<random>'. 0 to 3 slots of
-- P/R/Q, like the loader's widgets-add scenario. Durable commits, one call per transaction.
\set r random(1, 9000000000000000000)
\set k random(0, 3)
\set s random(1, 4)
SELECT api.add_widget(widget_sn => 'pgb-' || :prefix::text || '-' || :client_id::text || '-' || :r::text,
                      widget_name => 'bench',
                      slots => string_to_array(substr('PRQPRQ', :s, :k), NULL));
