-- pgbench: add_widget with serial numbers unique across clients and runs ('bench-<run>-<client>-<seq>',
-- never clashing with the seed's 'seed-<i>'), with 0 to 3 slots. One call per transaction.
-- Variables: -D run=<unique per run> -D seq=0 (a client's variables persist between transactions).
\set seq :seq + 1
\set k random(1, 4)
SELECT api.add_widget('bench-' || :run || '-' || :client_id || '-' || :seq, 'bench',
                      ((ARRAY['{}', '{P}', '{P,R}', '{Q,Q,R}'])[:k])::text[]);
