-- The ceiling for get_widget: pgbench reading a random seeded widget (serials 'seed-1' .. 'seed-<seeds>',
-- -D seeds=<count>), as the loader's widgets-get scenario does.
\set i random(1, :seeds)
SELECT api.get_widget(widget_sn => 'seed-' || :i::text);
