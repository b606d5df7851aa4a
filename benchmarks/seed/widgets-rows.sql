-- Producer for seed-widgets.sql: the widget rows (id, serial_number, name) of a seed of :n widgets,
-- as COPY text on stdout. Run by the server (COPY ... FROM PROGRAM) in a second session.
COPY (SELECT i, 'seed-' || i, 'widget ' || (i % 1000) FROM generate_series(1, :n::bigint) i) TO STDOUT;
