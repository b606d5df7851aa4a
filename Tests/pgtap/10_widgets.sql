-- Widgets: the specification a DBA reads. Every rule of the domain and every error the API raises,
-- first through the api functions as the caller role (web_anon, as the gateway calls them), then
-- straight against the tables (as the owner would) to show the constraints hold on their own.
-- Run by `make test` (pg_prove) on the freshly migrated test database; everything is rolled back.
BEGIN;
SELECT plan(117);

-- slots_of(sn): a widget's slots as 'P:partner' text, e.g. {P:B,R:-,R:-} (reads the tables directly).
CREATE FUNCTION pg_temp.slots_of(p_sn text) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(s.port || ':' || coalesce(p.serial_number, '-') ORDER BY s.slot_no), '{}')
    FROM widgets.widgets w JOIN widgets.slots s ON s.widget_id = w.id
    LEFT JOIN widgets.widgets p ON p.id = s.partner_id
    WHERE w.serial_number = p_sn
$$;
-- Test-only: pgTAP lives in public, whose functions are not executable by PUBLIC in this project;
-- let web_anon run the assertions (rolled back with everything else).
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO web_anon;

------------------------------------------------------------------------------------------------------
-- Structure: private tables, exposed functions
------------------------------------------------------------------------------------------------------
SELECT has_schema('api', 'the exposed schema api exists');
SELECT has_schema('widgets', 'the private schema widgets exists');
SELECT enum_has_labels('widgets', 'port_type', ARRAY['P', 'R', 'Q'], 'port types are exactly P, R, Q');
SELECT has_table('widgets', 'widgets', 'table widgets.widgets exists');
SELECT has_table('widgets', 'slots', 'table widgets.slots exists');
SELECT col_type_is('widgets', 'slots', 'port', 'widgets.port_type', 'a slot''s port is the enum');
SELECT results_eq(
    $$SELECT (conrelid::regclass::text || ' ' || conname) COLLATE "default" FROM pg_constraint
      WHERE connamespace = 'widgets'::regnamespace AND contype <> 'n' ORDER BY 1$$,
    ARRAY['widgets.slots slots_partner_id_not_self', 'widgets.slots slots_partner_id_once_per_port',
          'widgets.slots slots_partner_id_symmetric', 'widgets.slots slots_pkey',
          'widgets.slots slots_slot_no_range', 'widgets.slots slots_widget_id_fkey',
          'widgets.widgets widgets_pkey', 'widgets.widgets widgets_serial_number_key',
          'widgets.widgets widgets_serial_number_length'],
    'the tables carry exactly the named constraints');
SELECT has_function('api', 'add_widget', ARRAY['text', 'text', 'text[]'], 'add_widget(widget_sn, widget_name, slots)');
SELECT has_function('api', 'add_widget', ARRAY['text', 'character varying', 'text[]'], 'add_widget(widget_sn, name, slots)');
SELECT results_eq(
    $$SELECT (p.oid::regprocedure::text || ' ' || array_to_string(p.proargnames, ',')) COLLATE "default"
      FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace AND p.proname IN ('add_widget', 'remove_widget', 'associate_widgets', 'remove_association', 'get_widget') ORDER BY 1$$,
    ARRAY['api.add_widget(text,character varying,text[]) widget_sn,name,slots',
          'api.add_widget(text,text,text[]) widget_sn,widget_name,slots',
          'api.associate_widgets(text,text,text) widget1_sn,widget2_sn,port',
          'api.get_widget(text) widget_sn',
          'api.remove_association(text,text,text) widget1_sn,widget2_sn,port',
          'api.remove_widget(text) widget_sn'],
    'api has exactly the documented widget functions, with the argument names the clients send');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
      AND p.proname IN ('add_widget', 'remove_widget', 'associate_widgets', 'remove_association', 'get_widget') AND NOT (p.prosecdef AND p.proconfig @> ARRAY['search_path=""'])$$,
    'every widgets api function is SECURITY DEFINER with an empty search_path');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
      WHERE (p.pronamespace = 'widgets'::regnamespace OR (p.pronamespace = 'api'::regnamespace AND p.proname IN ('add_widget', 'remove_widget', 'associate_widgets', 'remove_association', 'get_widget')))
      AND (obj_description(p.oid, 'pg_proc') IS NULL OR p.proowner <> 'platform_owner'::regrole)$$,
    'every widgets function has a COMMENT and belongs to platform_owner');
SELECT volatility_is('api', 'get_widget', ARRAY['text'], 'stable', 'get_widget is STABLE (callable with GET)');
SELECT results_eq(
    $$SELECT DISTINCT p.provolatile::text FROM pg_proc p
      WHERE p.pronamespace = 'api'::regnamespace AND p.proname IN ('add_widget', 'remove_widget', 'associate_widgets', 'remove_association', 'get_widget') AND p.proname <> 'get_widget'$$,
    ARRAY['v'], 'the writers are VOLATILE');
SELECT results_eq(
    $$SELECT DISTINCT p.prorettype::regtype::text FROM pg_proc p
      WHERE p.pronamespace = 'api'::regnamespace AND p.proname IN ('add_widget', 'remove_widget', 'associate_widgets', 'remove_association', 'get_widget') AND p.proname <> 'get_widget'$$,
    ARRAY['void'], 'the writers return void (HTTP 204)');

------------------------------------------------------------------------------------------------------
-- Privileges: web_anon may call api functions and nothing else
------------------------------------------------------------------------------------------------------
SELECT schema_privs_are('api', 'web_anon', ARRAY['USAGE'], 'web_anon may use schema api');
SELECT schema_privs_are('widgets', 'web_anon', ARRAY[]::text[], 'web_anon has no privilege on schema widgets');
SELECT table_privs_are('widgets', 'widgets', 'web_anon', ARRAY[]::text[], 'web_anon has no privilege on widgets.widgets');
SELECT table_privs_are('widgets', 'slots', 'web_anon', ARRAY[]::text[], 'web_anon has no privilege on widgets.slots');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'api'::regnamespace
      AND p.proname IN ('add_widget', 'remove_widget', 'associate_widgets', 'remove_association', 'get_widget') AND NOT has_function_privilege('web_anon', p.oid, 'EXECUTE')$$,
    'web_anon may execute every widgets api function');
SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'widgets'::regnamespace
      AND (has_function_privilege('web_anon', p.oid, 'EXECUTE') OR p.proacl IS NULL
           OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0))$$,
    'neither web_anon nor PUBLIC may execute the private helpers');

SET LOCAL ROLE web_anon;
SELECT throws_ok($$SELECT * FROM widgets.widgets$$, '42501', NULL, 'web_anon cannot read widgets.widgets');
SELECT throws_ok($$SELECT * FROM widgets.slots$$, '42501', NULL, 'web_anon cannot read widgets.slots');
SELECT throws_ok($$UPDATE widgets.slots SET partner_id = NULL$$, '42501', NULL, 'web_anon cannot change widgets.slots');
SELECT throws_ok($$SELECT widgets._check_port('P')$$, '42501', NULL, 'web_anon cannot call private helpers');

------------------------------------------------------------------------------------------------------
-- add_widget (as web_anon)
------------------------------------------------------------------------------------------------------
SELECT lives_ok($$SELECT api.add_widget('t-A', 'alpha', '{P,R,R}')$$, 'add_widget creates a widget with slots P, R, R');
SELECT is(api.get_widget('t-A'),
          '{"serial_number": "t-A", "name": "alpha", "slots": [{"slot": 1, "port": "P", "partner": null},
            {"slot": 2, "port": "R", "partner": null}, {"slot": 3, "port": "R", "partner": null}]}'::jsonb,
          'get_widget returns serial number, name and the slots in order, all free');
SELECT lives_ok($$SELECT api.add_widget(widget_sn => 't-B', name => 'beta', slots => '{P,R}')$$,
                'add_widget also accepts the argument `name` (as the product''s description calls it)');
SELECT is(api.get_widget('t-B') ->> 'name', 'beta', 'the `name` overload stores the name');
SELECT lives_ok($$SELECT api.add_widget(widget_sn => 't-C', widget_name => 'alpha', slots => '{Q,Q}')$$,
                'names are not unique; one port type may repeat (QQ)');
SELECT lives_ok($$SELECT api.add_widget('t-D', 'delta', '{}')$$, 'a widget may have no slots');
SELECT is(api.get_widget('t-D') -> 'slots', '[]'::jsonb, 'a widget without slots has an empty slot list');
SELECT lives_ok($$SELECT api.add_widget('t-E', 'echo', '{P,Q,R}')$$, 'a widget may have all three port types');
SELECT lives_ok($$SELECT api.add_widget('t-F', 'fox', '{P}')$$, 'a widget with a single slot');
SELECT lives_ok($$SELECT api.add_widget('t-G', 'golf', '{P,P}')$$, 'a widget with two slots of one type');

SELECT throws_ok($$SELECT api.add_widget('t-A', 'again', '{P}')$$, '23505',
                 'duplicate key value violates unique constraint "widgets_serial_number_key"',
                 'a duplicate serial number is refused with PostgreSQL''s own unique-violation message (409)');
SELECT is(test_helpers.error_of($$SELECT api.add_widget('t-A', 'again', '{P}')$$) ->> 'detail',
          'Key (serial_number)=(t-A) already exists.', '... and its own detail naming the serial number');
SELECT is(test_helpers.error_of($$SELECT api.add_widget(widget_sn => 't-A', name => 'again', slots => '{}')$$) ->> 'code',
          '23505', '... through the `name` overload too');
SELECT throws_ok($$SELECT api.add_widget('t-X', 'x', '{P,R,Q,P}')$$, '22023',
                 'a widget has 0 to 3 port slots, got 4', 'more than 3 slots is refused (400)');
SELECT throws_ok($$SELECT api.add_widget('t-X', 'x', '{P,X}')$$, '22023',
                 'unknown port type ''X''', 'an unknown port type is refused (400)');
SELECT is(test_helpers.error_of($$SELECT api.add_widget('t-X', 'x', '{p}')$$) - 'message',
          '{"code": "22023", "detail": "A port type is one of the letters P, R or Q (upper case).",
            "hint": "Send \"port\": \"P\", \"R\" or \"Q\"."}'::jsonb,
          'port types are case-sensitive; the error says which letters are valid');
SELECT throws_ok($$SELECT api.add_widget('t-X', 'x', ARRAY['P', NULL])$$, '22023', 'unknown port type NULL',
                 'a null port type is refused (400)');
SELECT throws_ok($$SELECT api.add_widget('t-X', 'x', '{{P},{R}}')$$, '22023', NULL,
                 'a nested slot array is refused (400)');
SELECT throws_ok($$SELECT api.add_widget('t-X', 'x', NULL)$$, '22023', NULL, 'null slots are refused (400)');
SELECT throws_ok($$SELECT api.add_widget('', 'x', '{P}')$$, '22023',
                 'widget_sn must be a serial number of 1 to 200 characters', 'an empty serial number is refused (400)');
SELECT throws_ok($$SELECT api.add_widget(NULL, 'x', '{P}')$$, '22023', NULL, 'a null serial number is refused (400)');
SELECT throws_ok($$SELECT api.add_widget(repeat('s', 201), 'x', '{P}')$$, '22023', 'widget_sn must be at most 200 characters',
                 'a serial number over 200 characters is refused (400)');
-- Input bounds (docs/limits.md): every text and array argument has a maximum.
SELECT is(test_helpers.error_of($$SELECT api.add_widget('t-X', repeat('n', 201), '{P}')$$),
          '{"code": "22023", "message": "widget_name must be at most 200 characters", "detail": "Got 201 characters.",
            "hint": "Send a shorter \"widget_name\"."}'::jsonb,
          'a name over 200 characters is refused (400), naming the argument and its maximum');
SELECT throws_ok($$SELECT api.add_widget(widget_sn => 't-X', name => repeat('n', 201), slots => '{P}')$$, '22023',
                 'name must be at most 200 characters', '... through the `name` overload too, naming `name`');
SELECT lives_ok($$SELECT api.add_widget(repeat('s', 200), repeat('n', 200), '{P}')$$,
                'a serial number and a name of exactly 200 characters are accepted');
SELECT throws_ok($$SELECT api.add_widget('t-X', 'x', ARRAY['P', repeat('P', 17)])$$, '22023',
                 'each element of slots must be at most 16 characters', 'a slot element over 16 characters is refused (400)');
SELECT throws_ok($$SELECT api.associate_widgets('t-A', 't-B', repeat('P', 17))$$, '22023',
                 'port must be at most 16 characters', 'a port over 16 characters is refused (400)');
SELECT throws_ok($$SELECT api.remove_association('t-A', repeat('s', 201), 'P')$$, '22023',
                 'widget2_sn must be at most 200 characters', 'remove_association: a serial number over 200 characters is 400');
SELECT throws_ok($$SELECT api.get_widget(repeat('s', 201))$$, '22023',
                 'widget_sn must be at most 200 characters', 'get_widget: a serial number over 200 characters is 400, not 404');
SELECT throws_ok($$SELECT api.remove_widget(repeat('s', 201))$$, '22023',
                 'widget_sn must be at most 200 characters', 'remove_widget: a serial number over 200 characters is 400');
SELECT throws_ok($$SELECT api.get_widget('t-X')$$, 'PT404', NULL, 'none of the refused calls created anything');
SELECT throws_ok($$SELECT api.add_widget('t-X', NULL, '{P}')$$, '22023', 'the widget name must not be null',
                 'a null name is refused (400)');
SELECT throws_ok($$SELECT api.get_widget('t-X')$$, 'PT404', NULL, 'failed add_widget calls created nothing');

------------------------------------------------------------------------------------------------------
-- associate_widgets (as web_anon)
------------------------------------------------------------------------------------------------------
SELECT lives_ok($$SELECT api.associate_widgets('t-A', 't-B', 'P')$$, 'A and B associate over P');
SELECT is(api.get_widget('t-A') -> 'slots' -> 0 ->> 'partner', 't-B', 'A''s P slot names B');
SELECT is(api.get_widget('t-B') -> 'slots' -> 0 ->> 'partner', 't-A', 'B''s P slot names A (bi-directional)');
SELECT lives_ok($$SELECT api.associate_widgets('t-B', 't-A', 'R')$$,
                'the same two widgets associate again over another port type (either argument order)');
SELECT throws_ok($$SELECT api.associate_widgets('t-A', 't-B', 'R')$$, 'PT409',
                 'widgets ''t-A'' and ''t-B'' are already associated on port type R',
                 'never twice on the same port type (409)');
SELECT throws_ok($$SELECT api.associate_widgets('t-B', 't-A', 'P')$$, 'PT409',
                 'widgets ''t-B'' and ''t-A'' are already associated on port type P',
                 '... whichever widget is named first (409)');
SELECT lives_ok($$SELECT api.associate_widgets('t-A', 't-E', 'R')$$, 'A''s second R slot associates with E');
SELECT is(api.get_widget('t-A') -> 'slots',
          '[{"slot": 1, "port": "P", "partner": "t-B"}, {"slot": 2, "port": "R", "partner": "t-B"},
            {"slot": 3, "port": "R", "partner": "t-E"}]'::jsonb,
          'get_widget shows the partner on each used slot');
SELECT throws_ok($$SELECT api.associate_widgets('t-A', 't-G', 'P')$$, 'PT409',
                 'widget ''t-A'' has no free slot of port type P', 'no free slot of that type: 409 naming the widget and port');
SELECT is(test_helpers.error_of($$SELECT api.associate_widgets('t-G', 't-A', 'R')$$),
          '{"code": "PT409", "message": "widget ''t-G'' has no free slot of port type R",
            "detail": "Widget ''t-G'' has no slot of port type R.",
            "hint": "Associate over a port type both widgets have (see get_widget)."}'::jsonb,
          'a widget without a slot of that type: 409 whose detail says so');
SELECT is(test_helpers.error_of($$SELECT api.associate_widgets('t-G', 't-A', 'P')$$) ->> 'detail',
          'All 1 slot(s) of port type P of widget ''t-A'' are associated.',
          'all slots of that type in use: the detail says so');
SELECT is(api.get_widget('t-G') -> 'slots',
          '[{"slot": 1, "port": "P", "partner": null}, {"slot": 2, "port": "P", "partner": null}]'::jsonb,
          'a failed associate_widgets changes nothing (G''s free P slots stay free)');
SELECT throws_ok($$SELECT api.associate_widgets('t-C', 't-C', 'Q')$$, '22023',
                 'a widget cannot be associated with itself', 'a widget cannot be associated with itself (400)');
SELECT throws_ok($$SELECT api.associate_widgets('t-C', 't-G', 'X')$$, '22023', 'unknown port type ''X''',
                 'an unknown port type is refused (400)');
SELECT throws_ok($$SELECT api.associate_widgets('t-C', 't-G', NULL)$$, '22023', 'unknown port type NULL',
                 'a null port type is refused (400)');
SELECT throws_ok($$SELECT api.associate_widgets('t-nope', 't-C', 'Q')$$, 'PT404', 'widget ''t-nope'' does not exist',
                 'an unknown first widget: 404');
SELECT is(test_helpers.error_of($$SELECT api.associate_widgets('t-C', 't-nope', 'Q')$$) - 'code' - 'message',
          '{"detail": "No widget has this serial number (it may have been removed).",
            "hint": "Check the serial number, or create the widget with add_widget first."}'::jsonb,
          'an unknown second widget: 404 with a detail and hint');
SELECT throws_ok($$SELECT api.associate_widgets('', 't-C', 'Q')$$, '22023',
                 'widget1_sn must be a serial number of 1 to 200 characters', 'an empty serial number is refused (400)');
SELECT lives_ok($$SELECT api.associate_widgets('t-C', 't-E', 'Q')$$, 'C''s first Q slot associates with E');
SELECT lives_ok($$SELECT api.associate_widgets('t-F', 't-G', 'P')$$, 'F and G associate over P');
SELECT is(api.get_widget('t-G') -> 'slots',
          '[{"slot": 1, "port": "P", "partner": "t-F"}, {"slot": 2, "port": "P", "partner": null}]'::jsonb,
          'the lowest free slot of the port type is used');

------------------------------------------------------------------------------------------------------
-- remove_association (as web_anon)
------------------------------------------------------------------------------------------------------
SELECT lives_ok($$SELECT api.remove_association('t-B', 't-A', 'R')$$, 'the R association of A and B is removed (either order)');
SELECT is(api.get_widget('t-A') -> 'slots' -> 1 ->> 'partner', NULL, 'A''s R slot is free again');
SELECT is(api.get_widget('t-B') -> 'slots' -> 1 ->> 'partner', NULL, 'B''s R slot is free again');
SELECT is(api.get_widget('t-A') -> 'slots' -> 0 ->> 'partner', 't-B', 'their P association is untouched');
SELECT throws_ok($$SELECT api.remove_association('t-A', 't-B', 'R')$$, 'PT404',
                 'widgets ''t-A'' and ''t-B'' are not associated on port type R',
                 'removing an association that does not exist: 404');
SELECT throws_ok($$SELECT api.remove_association('t-A', 't-D', 'P')$$, 'PT404', NULL,
                 'removing an association between widgets that were never associated: 404');
SELECT throws_ok($$SELECT api.remove_association('t-A', 't-nope', 'P')$$, 'PT404', 'widget ''t-nope'' does not exist',
                 'an unknown widget: 404');
SELECT throws_ok($$SELECT api.remove_association('t-A', 't-A', 'P')$$, '22023', 'a widget cannot be associated with itself',
                 'the same widget twice: 400');
SELECT throws_ok($$SELECT api.remove_association('t-A', 't-B', 'Z')$$, '22023', 'unknown port type ''Z''',
                 'an unknown port type: 400');
SELECT lives_ok($$SELECT api.associate_widgets('t-A', 't-B', 'R')$$, 'a removed association can be made again');

------------------------------------------------------------------------------------------------------
-- remove_widget (as web_anon)
------------------------------------------------------------------------------------------------------
SELECT lives_ok($$SELECT api.remove_widget('t-A')$$, 'A (associated with B twice and with E) is removed');
SELECT throws_ok($$SELECT api.get_widget('t-A')$$, 'PT404', 'widget ''t-A'' does not exist', 'A is gone');
SELECT is(api.get_widget('t-B') -> 'slots',
          '[{"slot": 1, "port": "P", "partner": null}, {"slot": 2, "port": "R", "partner": null}]'::jsonb,
          'both of B''s slots that A used are free');
SELECT is(api.get_widget('t-E') -> 'slots',
          '[{"slot": 1, "port": "P", "partner": null}, {"slot": 2, "port": "Q", "partner": "t-C"},
            {"slot": 3, "port": "R", "partner": null}]'::jsonb,
          'E''s slot that A used is free; E''s other association is untouched');
SELECT throws_ok($$SELECT api.remove_widget('t-A')$$, 'PT404', 'widget ''t-A'' does not exist', 'removing it again: 404');
SELECT throws_ok($$SELECT api.remove_widget('')$$, '22023', NULL, 'an empty serial number: 400');
SELECT lives_ok($$SELECT api.remove_widget('t-D')$$, 'a widget without slots is removed');
SELECT lives_ok($$SELECT api.add_widget('t-A', 'alpha again', '{Q}')$$, 'a removed widget''s serial number can be used again');
SELECT is(api.get_widget('t-A'),
          '{"serial_number": "t-A", "name": "alpha again", "slots": [{"slot": 1, "port": "Q", "partner": null}]}'::jsonb,
          'the new widget has none of the old one''s slots or associations');
SELECT throws_ok($$SELECT api.get_widget('t-nope')$$, 'PT404', 'widget ''t-nope'' does not exist', 'get_widget of an unknown widget: 404');
SELECT throws_ok($$SELECT api.get_widget(NULL)$$, 'PT404', NULL, 'get_widget(null): 404');

-- remove_widget locks again when the widget's partners changed under it, but only so
-- often. Its attempt (widgets._lock_with_partners) is replaced, in this rolled-back transaction, by one
-- that always finds the partners changed: the call ends in a retryable 503 instead of looping for ever.
RESET ROLE;
CREATE OR REPLACE FUNCTION widgets._lock_with_partners(p_id bigint) RETURNS text
LANGUAGE sql VOLATILE SET search_path = '' AS $$ SELECT 'changed' $$;
SET LOCAL ROLE web_anon;
SELECT is(test_helpers.error_of($$SELECT api.remove_widget('t-B')$$),
          '{"code": "PT503", "message": "widget ''t-B'' could not be removed: its associations kept changing",
            "detail": "Another call associated it with a new widget during each of 10 attempts to lock it with its partners.",
            "hint": "Retry in a moment (the answer is 503 with Retry-After)."}'::jsonb,
          'remove_widget gives up after 10 attempts with a retryable 503 (PT503), never spins');
SELECT is(api.get_widget('t-B') ->> 'serial_number', 't-B', '... and the widget is still there');

RESET ROLE;
------------------------------------------------------------------------------------------------------
-- The tables refuse illegal states on their own (as the owner, bypassing the functions)
------------------------------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM widgets.slots s JOIN widgets.widgets w ON w.id = s.widget_id
           WHERE w.serial_number IN ('t-D')), 0::bigint, 'removed widgets leave no slot rows behind');
SELECT throws_ok($$INSERT INTO widgets.widgets (serial_number, name) VALUES ('', 'x')$$, '23514', NULL,
                 'widgets_serial_number_length: no empty serial number');
SELECT throws_ok($$INSERT INTO widgets.widgets (serial_number, name) VALUES ('t-B', 'x')$$, '23505',
                 'duplicate key value violates unique constraint "widgets_serial_number_key"', 'widgets_serial_number_key: serial numbers are unique');
SELECT throws_ok($$INSERT INTO widgets.slots (widget_id, slot_no, port)
                   SELECT id, 4, 'P' FROM widgets.widgets WHERE serial_number = 't-B'$$, '23514', NULL,
                 'slots_slot_no_range: no fourth slot');
SELECT throws_ok($$INSERT INTO widgets.slots (widget_id, slot_no, port)
                   SELECT id, 1, 'Q' FROM widgets.widgets WHERE serial_number = 't-B'$$, '23505', NULL,
                 'slots_pkey: a slot number is used once per widget');
SELECT throws_ok($$INSERT INTO widgets.slots (widget_id, slot_no, port)
                   SELECT id, 3, 'X' FROM widgets.widgets WHERE serial_number = 't-B'$$, '22P02', NULL,
                 'the port enum refuses unknown port types');
SELECT throws_ok($$UPDATE widgets.slots SET partner_id = widget_id
                   WHERE widget_id = (SELECT id FROM widgets.widgets WHERE serial_number = 't-B') AND slot_no = 1$$,
                 '23514', NULL, 'slots_partner_id_not_self: no association with itself');
SELECT throws_ok($$UPDATE widgets.slots SET partner_id = (SELECT id FROM widgets.widgets WHERE serial_number = 't-G')
                   WHERE widget_id = (SELECT id FROM widgets.widgets WHERE serial_number = 't-B') AND slot_no = 1$$,
                 '23503', NULL, 'slots_partner_id_symmetric: no one-sided association');
SELECT throws_ok($$UPDATE widgets.slots SET partner_id = (SELECT id FROM widgets.widgets WHERE serial_number = 't-E')
                   WHERE widget_id = (SELECT id FROM widgets.widgets WHERE serial_number = 't-C') AND slot_no = 2$$,
                 '23505', NULL, 'slots_partner_id_once_per_port: no second association of a pair on one port');
SELECT throws_ok($$UPDATE widgets.slots s SET partner_id = CASE s.widget_id WHEN b.id THEN e.id ELSE b.id END
                   FROM widgets.widgets b, widgets.widgets e WHERE b.serial_number = 't-B' AND e.serial_number = 't-E'
                   AND (s.widget_id, s.slot_no) IN ((b.id, 2), (e.id, 1))$$,
                 '23503', NULL, 'slots_partner_id_symmetric: both halves must use the same port type (R with P)');
SELECT lives_ok($$DELETE FROM widgets.widgets WHERE serial_number = 't-C'$$, 'deleting a widget row directly');
SELECT is(pg_temp.slots_of('t-E'), ARRAY['P:-', 'Q:-', 'R:-'], '... frees its partners'' slots (ON DELETE SET NULL)');

-- Invariants over whatever is in the tables now (the concurrency test checks the same after its storm).
SELECT is_empty($$SELECT s.widget_id, s.slot_no FROM widgets.slots s WHERE s.partner_id IS NOT NULL
                  AND NOT EXISTS (SELECT FROM widgets.slots t WHERE t.widget_id = s.partner_id
                                  AND t.partner_id = s.widget_id AND t.port = s.port)$$,
                'every association is symmetric');
SELECT is_empty($$SELECT widget_id, partner_id, port FROM widgets.slots WHERE partner_id IS NOT NULL
                  GROUP BY 1, 2, 3 HAVING count(*) > 1$$, 'no pair shares a port type twice');
SELECT is_empty($$SELECT widget_id FROM widgets.slots GROUP BY 1 HAVING count(*) > 3$$, 'no widget has more than 3 slots');

SELECT * FROM finish();
ROLLBACK;
