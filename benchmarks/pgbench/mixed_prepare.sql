-- Before each mixed pgbench run (benchmarks/bench.sh): puts the pairs mixed_associate.sql and
-- mixed_remove.sql work on into the state those scripts assume, whatever earlier runs (the loader's
-- widgets-mixed associates and removes random pairs) left: for each client c < :clients and j < :k,
-- pair m(c + clients * j) is free, then associated over its slot-1 port when j < k/2.
-- Run by the superuser in one transaction (psql -v clients=.. -v k=.. --single-transaction).
\set ON_ERROR_STOP 1
CREATE TEMP TABLE mixed_pairs ON COMMIT DROP AS
SELECT j, 'seed-' || (2 * m - 1) AS a, 'seed-' || (2 * m) AS b, (ARRAY['P', 'R', 'Q'])[(m + m / 10) % 3 + 1] AS port
FROM generate_series(0, :clients - 1) c, generate_series(0, :k - 1) j,
     LATERAL (SELECT ((c + :clients * j) / 9) * 10 + (c + :clients * j) % 9 + 1 AS m) x;
-- Free every one of them (both halves in one statement: the symmetric foreign key holds at its end).
UPDATE widgets.slots s SET partner_id = NULL
FROM mixed_pairs p JOIN widgets.widgets wa ON wa.serial_number = p.a JOIN widgets.widgets wb ON wb.serial_number = p.b,
     LATERAL (VALUES (wa.id, wb.id), (wb.id, wa.id)) e(w, partner)
WHERE s.widget_id = e.w AND s.partner_id = e.partner;
-- Associate the first half through the API (as the benchmark will).
SELECT count(*) AS associated FROM (SELECT api.associate_widgets(p.a, p.b, p.port) FROM mixed_pairs p WHERE p.j < :k / 2) x;
