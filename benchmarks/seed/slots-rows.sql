-- Producer for seed-widgets.sql: the slot rows (widget_id, partner_id, slot_no, port) of a seed of :n
-- widgets, as COPY text on stdout (shape of the data: see seed-widgets.sql). One candidate row per
-- (widget, slot number), 3 per widget, keeping those within the widget's slot count.
COPY (
    SELECT i,
           CASE WHEN j = 1 AND m % 10 BETWEEN 1 AND 6 AND (i % 2 = 0 OR i < :n)
                THEN CASE WHEN i % 2 = 1 THEN i + 1 ELSE i - 1 END END,
           j,
           (ARRAY['P', 'R', 'Q'])[CASE WHEN j = 1 THEN (m + m / 10) % 3 ELSE (i + j) % 3 END + 1]
    FROM (SELECT s / 3 + 1 AS i, s % 3 + 1 AS j, (s / 3 + 2) / 2 AS m
          FROM generate_series(0, 3 * :n::bigint - 1) s) c
    WHERE m % 10 <> 0
      AND j <= CASE WHEN (7 * i + 3) % 9 < 2 THEN 1 WHEN (7 * i + 3) % 9 < 5 THEN 2 ELSE 3 END
) TO STDOUT;
