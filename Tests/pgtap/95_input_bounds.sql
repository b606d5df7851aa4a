-- Input bounds (docs/limits.md): every text, array and JSON parameter of an api function passes
-- through auth.check_text / auth.check_array / auth.check_json (sql/00_auth.sql) in the function's body,
-- so an oversized value is a 400 naming the argument. This walks api's functions: a new function with an
-- unchecked text, array or JSON parameter makes it fail. The maxima are in docs/limits.md.
BEGIN;
SELECT plan(6);

CREATE TEMP VIEW api_parameters AS
    SELECT p.oid::regprocedure::text AS signature, a.name, format_type(a.type_oid, NULL) AS type, p.prosrc
    FROM pg_proc p
    CROSS JOIN LATERAL unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargmodes, p.proargnames)
         WITH ORDINALITY AS a(type_oid, mode, name, ord)
    JOIN pg_type t ON t.oid = a.type_oid
    WHERE p.pronamespace = 'api'::regnamespace AND coalesce(a.mode, 'i') IN ('i', 'b', 'v')
      AND (t.typcategory IN ('S', 'A') OR t.oid IN ('json'::regtype, 'jsonb'::regtype));

SELECT ok((SELECT count(*) >= 20 FROM api_parameters), 'api has text, array and JSON parameters to check (not vacuous)');

-- A parameter is checked when the body passes it (by name, or as $1 when unnamed) to auth.check_* or to
-- a domain's own validator named <schema>._check_* (which must itself call auth.check_*: next test).
SELECT is_empty($$
    SELECT signature || ' ' || coalesce(name, '?') || ' ' || type FROM api_parameters
    WHERE prosrc !~* ('(auth\.check_(text|array|json)|\w+\._check_\w+)\(\s*' || coalesce(nullif(name, ''), '\$1') || '\M')
$$, 'every text, array and JSON parameter of api is bounded by auth.check_text/check_array/check_json');

SELECT is_empty($$
    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'api', 'auth') AND p.proname LIKE '\_check\_%'
      AND p.prosrc !~* 'auth\.check_(text|array|json)\('
$$, 'every domain validator named _check_* bounds its input with auth.check_*');

-- The checks themselves: over the maximum is 22023 (400) naming the argument; at the maximum passes.
SELECT throws_ok($$SELECT auth.check_text(repeat('x', 201), 'widget_name', 200)$$, '22023',
    'widget_name must be at most 200 characters', 'check_text: one character over is refused, naming the argument');
SELECT throws_ok($$SELECT auth.check_array(ARRAY['a','b','c','d'], 'slots', 3)$$, '22023',
    'slots must have at most 3 elements', 'check_array: one element over is refused');
SELECT is(auth.check_array(ARRAY[repeat('x', 10)], 'ids', 3, 10), ARRAY[repeat('x', 10)],
    'check_array: at the maxima the array passes unchanged');

SELECT * FROM finish();
ROLLBACK;
