-- Widgets API: the functions the gateway exposes over /rpc (schema api) and their private helpers
-- (schema widgets, names starting with _). Repeatable: re-applied on every migrate.
--
-- Every writer is SECURITY DEFINER (runs as platform_owner, the tables' owner) with an empty
-- search_path and fully qualified names; callers (web_anon) get EXECUTE only.
--
-- Locking protocol (never deadlocks): every change to a widget's slots happens while holding that
-- widget's row lock, and a call takes all the widget row locks it needs in ONE statement, in
-- ascending id order, before it touches any slot. remove_widget also needs the locks of its partners
-- (the cascade frees their slots); it reads them, locks them with itself in id order, and if the
-- partner set changed in the meantime it rolls the locks back (subtransaction) and tries again, at
-- most 10 times (then 503, retryable).
--
-- Errors (SQLSTATE -> HTTP through the gateway): 22023 bad argument -> 400; PT404 unknown widget or
-- association -> 404; PT409 no free slot / already associated -> 409; 23505 duplicate serial number
-- -> 409 (PostgreSQL's own message, raised by the insert hitting widgets_serial_number_key); PT503
-- remove_widget could not lock a widget whose associations kept changing -> 503 + Retry-After.
SET LOCAL ROLE platform_owner;

-- When a signature changes, DROP FUNCTION IF EXISTS the old one here, above its replacement.
-- Input bounds: the validators are named _check_* and bound their text with
-- auth.check_*; _add_widget takes validated values. Maxima and why: docs/limits.md.
DROP FUNCTION IF EXISTS widgets._add_widget(text, text, text[]);
DROP FUNCTION IF EXISTS widgets._port(text);
DROP FUNCTION IF EXISTS widgets._serial(text, text);

-- Validates a port type argument and returns it as the enum (22023 with the valid choices if not one).
-- At most 16 characters: a port type is one letter, and near misses ("PR", "port P") still get the
-- message naming the valid choices; anything longer is refused before the message quotes it.
CREATE OR REPLACE FUNCTION widgets._check_port(p_port text, p_argument text DEFAULT 'port')
RETURNS widgets.port_type
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
BEGIN
    PERFORM auth.check_text(p_port, p_argument, 16);
    IF p_port IS NULL OR NOT p_port = ANY (enum_range(NULL::widgets.port_type)::text[]) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('unknown port type %s', coalesce(quote_literal(p_port), 'NULL')),
            DETAIL = 'A port type is one of the letters P, R or Q (upper case).',
            HINT = 'Send "port": "P", "R" or "Q".';
    END IF;
    RETURN p_port::widgets.port_type;
END
$$;
COMMENT ON FUNCTION widgets._check_port(text, text) IS 'Validates a port type argument (at most 16 characters); 22023 naming the valid choices otherwise.';

-- Validates a serial number argument (not NULL, 1 to 200 characters: the table's
-- widgets_serial_number_length, checked here first so the error names the argument) and returns it.
CREATE OR REPLACE FUNCTION widgets._check_serial(p_serial text, p_argument text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    PERFORM auth.check_text(p_serial, p_argument, 200);
    IF p_serial IS NULL OR length(p_serial) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must be a serial number of 1 to 200 characters', p_argument),
            DETAIL = format('Got %s.', CASE WHEN p_serial IS NULL THEN 'null' ELSE 'an empty string' END),
            HINT = format('Send "%s" as a non-empty string.', p_argument);
    END IF;
    RETURN p_serial;
END
$$;
COMMENT ON FUNCTION widgets._check_serial(text, text) IS 'Validates a serial number argument (1 to 200 characters); 22023 naming the argument otherwise.';

-- Validates a widget name (not NULL, at most 200 characters: a label for people, like the serial
-- number; names need not be unique) and returns it.
CREATE OR REPLACE FUNCTION widgets._check_name(p_name text, p_argument text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = ''
AS $$
BEGIN
    PERFORM auth.check_text(p_name, p_argument, 200);
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the widget name must not be null',
            HINT = 'Send the name as a string (names need not be unique).';
    END IF;
    RETURN p_name;
END
$$;
COMMENT ON FUNCTION widgets._check_name(text, text) IS 'Validates a widget name (at most 200 characters, not null); 22023 naming the argument otherwise.';

-- Validates the slots argument (a flat array of 0 to 3 port types, each at most 16 characters) and
-- returns the port types in order (slot 1 = first element).
CREATE OR REPLACE FUNCTION widgets._check_slots(p_slots text[])
RETURNS widgets.port_type[]
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_ports widgets.port_type[];
BEGIN
    -- The count first, with the domain's own message (it quotes no element, so it is safe at any size).
    IF p_slots IS NULL OR array_ndims(p_slots) > 1 OR cardinality(p_slots) > 3 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('a widget has 0 to 3 port slots, got %s',
                             coalesce(cardinality(p_slots)::text, 'null')),
            DETAIL = 'slots is a flat array of port types, one per slot, e.g. ["P","R","R"].',
            HINT = 'Send at most 3 port types; [] for a widget without ports.';
    END IF;
    PERFORM auth.check_array(p_slots, 'slots', 3, 16);
    SELECT coalesce(array_agg(widgets._check_port(p, 'slots') ORDER BY n), '{}') INTO v_ports
    FROM unnest(p_slots) WITH ORDINALITY u(p, n);
    RETURN v_ports;
END
$$;
COMMENT ON FUNCTION widgets._check_slots(text[]) IS 'Validates a slots argument (0 to 3 port types); the port types in order, 22023 otherwise.';

-- Raises PT404 for a serial number that names no widget.
CREATE OR REPLACE FUNCTION widgets._raise_unknown(p_serial text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'PT404',
        MESSAGE = format('widget %s does not exist', quote_literal(p_serial)),
        DETAIL = 'No widget has this serial number (it may have been removed).',
        HINT = 'Check the serial number, or create the widget with add_widget first.';
END
$$;
COMMENT ON FUNCTION widgets._raise_unknown(text) IS 'Raises PT404 (404) for an unknown serial number.';

-- Returns the id of the widget with this serial number, or raises PT404.
CREATE OR REPLACE FUNCTION widgets._widget_id(p_serial text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT w.id INTO v_id FROM widgets.widgets w WHERE w.serial_number = p_serial;
    IF v_id IS NULL THEN
        PERFORM widgets._raise_unknown(p_serial);
    END IF;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION widgets._widget_id(text) IS 'Id of the widget with this serial number; PT404 if there is none.';

-- Looks up two widgets for an association call and locks both rows in id order; returns their ids.
CREATE OR REPLACE FUNCTION widgets._lock_pair(p_serial1 text, p_serial2 text, OUT o_id1 bigint, OUT o_id2 bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_row record;
BEGIN
    IF p_serial1 = p_serial2 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'a widget cannot be associated with itself',
            DETAIL = format('widget1_sn and widget2_sn are both %s.', quote_literal(p_serial1)),
            HINT = 'Send two different serial numbers.';
    END IF;
    -- One statement finds and locks both, in ascending id order (rows are locked after the sort):
    -- the only order in which any call takes widget locks. A widget removed meanwhile is skipped.
    FOR v_row IN
        SELECT w.id, w.serial_number FROM widgets.widgets w
        WHERE w.serial_number IN (p_serial1, p_serial2) ORDER BY w.id FOR NO KEY UPDATE
    LOOP
        IF v_row.serial_number = p_serial1 THEN o_id1 := v_row.id; ELSE o_id2 := v_row.id; END IF;
    END LOOP;
    IF o_id1 IS NULL THEN
        PERFORM widgets._raise_unknown(p_serial1);
    ELSIF o_id2 IS NULL THEN
        PERFORM widgets._raise_unknown(p_serial2);
    END IF;
END
$$;
COMMENT ON FUNCTION widgets._lock_pair(text, text) IS 'Ids of two different widgets, row-locked in ascending id order; 22023 if the same, PT404 if unknown.';

-- The slot number of a free slot of this port on a widget (lowest first), or PT409 naming the widget.
CREATE OR REPLACE FUNCTION widgets._free_slot(p_id bigint, p_serial text, p_port widgets.port_type)
RETURNS smallint
LANGUAGE plpgsql STABLE
SET search_path = ''
AS $$
DECLARE
    v_slot smallint;
    v_total int;
BEGIN
    SELECT s.slot_no INTO v_slot FROM widgets.slots s
    WHERE s.widget_id = p_id AND s.partner_id IS NULL AND s.port = p_port
    ORDER BY s.slot_no LIMIT 1;
    IF v_slot IS NULL THEN
        SELECT count(*) INTO v_total FROM widgets.slots s WHERE s.widget_id = p_id AND s.port = p_port;
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('widget %s has no free slot of port type %s', quote_literal(p_serial), p_port),
            DETAIL = CASE WHEN v_total = 0
                          THEN format('Widget %s has no slot of port type %s.', quote_literal(p_serial), p_port)
                          ELSE format('All %s slot(s) of port type %s of widget %s are associated.',
                                      v_total, p_port, quote_literal(p_serial)) END,
            HINT = CASE WHEN v_total = 0
                        THEN 'Associate over a port type both widgets have (see get_widget).'
                        ELSE format('Free one with remove_association, or use another widget with a free %s slot.', p_port) END;
    END IF;
    RETURN v_slot;
END
$$;
COMMENT ON FUNCTION widgets._free_slot(bigint, text, widgets.port_type) IS 'Lowest free slot of a port type on a widget; PT409 naming the widget and port if none.';

-- Creates the widget's row and its slots, in the given order (slot 1 = first element), from validated
-- arguments (the api functions pass them through widgets._check_*).
CREATE OR REPLACE FUNCTION widgets._add_widget(p_serial text, p_name text, p_ports widgets.port_type[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_id bigint;
BEGIN
    -- A duplicate serial number fails here with PostgreSQL's own 23505 on widgets_serial_number_key.
    INSERT INTO widgets.widgets (serial_number, name) VALUES (p_serial, p_name) RETURNING id INTO v_id;
    INSERT INTO widgets.slots (widget_id, slot_no, port)
    SELECT v_id, n, p FROM unnest(p_ports) WITH ORDINALITY u(p, n);
END
$$;
COMMENT ON FUNCTION widgets._add_widget(text, text, widgets.port_type[]) IS 'Inserts a widget with its slots from validated arguments (shared by both add_widget overloads).';

-- Creates a widget: serial number (unique), name, and 0 to 3 port slots, e.g. '{P,R,R}'.
-- The arguments are validated in order (serial number, name, slots): the first bad one is reported.
CREATE OR REPLACE FUNCTION api.add_widget(widget_sn text, widget_name text, slots text[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_serial text := widgets._check_serial(widget_sn, 'widget_sn');
    v_name text := widgets._check_name(widget_name, 'widget_name');
    v_ports widgets.port_type[] := widgets._check_slots(slots);
BEGIN
    PERFORM widgets._add_widget(v_serial, v_name, v_ports);
END
$$;
COMMENT ON FUNCTION api.add_widget(text, text, text[]) IS
    'Creates a widget with 0 to 3 port slots (P, R, Q; repeats allowed). 409 (23505) if the serial number exists; 400 (22023) on bad arguments (serial number and name at most 200 characters).';
GRANT EXECUTE ON FUNCTION api.add_widget(text, text, text[]) TO web_anon;

-- The same with the argument name the product's description uses (`name`; its examples send
-- `widget_name`). PostgREST picks overloads by the set of argument names; PostgreSQL needs distinct
-- argument types, hence `name varchar` (positional calls with string literals resolve to the text
-- version above).
CREATE OR REPLACE FUNCTION api.add_widget(widget_sn text, name varchar, slots text[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_serial text := widgets._check_serial(widget_sn, 'widget_sn');
    v_name text := widgets._check_name(name, 'name');
    v_ports widgets.port_type[] := widgets._check_slots(slots);
BEGIN
    PERFORM widgets._add_widget(v_serial, v_name, v_ports);
END
$$;
COMMENT ON FUNCTION api.add_widget(text, varchar, text[]) IS
    'add_widget with the argument `name` instead of `widget_name` (same behaviour).';
GRANT EXECUTE ON FUNCTION api.add_widget(text, varchar, text[]) TO web_anon;

-- One attempt of remove_widget to lock a widget together with its partners (the cascade rewrites the
-- partners' slots), in id order. Returns 'locked' (all held), 'gone' (removed by a concurrent call) or
-- 'changed': associated meanwhile with a widget it did not lock; this attempt's locks are then let go
-- (the block's subtransaction is rolled back) so that the caller never waits while holding some.
CREATE OR REPLACE FUNCTION widgets._lock_with_partners(p_id bigint)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = ''
AS $$
DECLARE
    v_partners bigint[];
BEGIN
    v_partners := ARRAY(SELECT s.partner_id FROM widgets.slots s
                        WHERE s.widget_id = p_id AND s.partner_id IS NOT NULL);
    PERFORM FROM widgets.widgets w WHERE w.id = p_id OR w.id = ANY (v_partners)
    ORDER BY w.id FOR UPDATE;
    IF NOT EXISTS (SELECT FROM widgets.widgets w WHERE w.id = p_id) THEN
        RETURN 'gone';
    ELSIF EXISTS (SELECT FROM widgets.slots s WHERE s.widget_id = p_id
                  AND s.partner_id IS NOT NULL AND NOT s.partner_id = ANY (v_partners)) THEN
        RAISE EXCEPTION USING ERRCODE = 'PTRTY';  -- undo these locks
    END IF;
    RETURN 'locked';
EXCEPTION WHEN SQLSTATE 'PTRTY' THEN
    RETURN 'changed';
END
$$;
COMMENT ON FUNCTION widgets._lock_with_partners(bigint) IS
    'One attempt of remove_widget: locks the widget and its partners in id order; locked, gone, or changed (locks let go).';

-- Removes a widget and its slots; the slots of every widget it was associated with become free.
-- Each new attempt means another call associated the widget in the short moment between reading its
-- partners and locking them. A few in a row happen under heavy churn; ten means the widget is being
-- associated faster than it can be locked: the caller gets a retryable 503 (PT503; the gateway adds
-- Retry-After) rather than this call spinning on a pool connection for as long as the churn lasts.
CREATE OR REPLACE FUNCTION api.remove_widget(widget_sn text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    c_attempts constant integer := 10;
    v_id bigint := widgets._widget_id(widgets._check_serial(widget_sn, 'widget_sn'));
    v_outcome text;
BEGIN
    FOR v_attempt IN 1..c_attempts LOOP
        v_outcome := widgets._lock_with_partners(v_id);
        EXIT WHEN v_outcome <> 'changed';
    END LOOP;
    IF v_outcome = 'gone' THEN
        PERFORM widgets._raise_unknown(widget_sn);
    ELSIF v_outcome = 'changed' THEN
        RAISE EXCEPTION USING ERRCODE = 'PT503',
            MESSAGE = format('widget %s could not be removed: its associations kept changing', quote_literal(widget_sn)),
            DETAIL = format('Another call associated it with a new widget during each of %s attempts to lock it with its partners.', c_attempts),
            HINT = 'Retry in a moment (the answer is 503 with Retry-After).';
    END IF;
    DELETE FROM widgets.widgets w WHERE w.id = v_id;   -- cascades to slots; partners' slots set free
END
$$;
COMMENT ON FUNCTION api.remove_widget(text) IS
    'Removes a widget; its associations end and its partners'' slots become free. 404 (PT404) if unknown; 503 (PT503) if its associations keep changing (retry).';
GRANT EXECUTE ON FUNCTION api.remove_widget(text) TO web_anon;

-- Associates two different widgets over a port type, using one free slot of that type on each.
CREATE OR REPLACE FUNCTION api.associate_widgets(widget1_sn text, widget2_sn text, port text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_port widgets.port_type := widgets._check_port(port);
    v_id1 bigint;
    v_id2 bigint;
    v_slot1 smallint;
    v_slot2 smallint;
BEGIN
    PERFORM widgets._check_serial(widget1_sn, 'widget1_sn'), widgets._check_serial(widget2_sn, 'widget2_sn');
    SELECT l.o_id1, l.o_id2 INTO v_id1, v_id2 FROM widgets._lock_pair(widget1_sn, widget2_sn) l;
    IF EXISTS (SELECT FROM widgets.slots s WHERE s.widget_id = v_id1 AND s.partner_id = v_id2 AND s.port = v_port) THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409',
            MESSAGE = format('widgets %s and %s are already associated on port type %s',
                             quote_literal(widget1_sn), quote_literal(widget2_sn), v_port),
            DETAIL = 'Two widgets can be associated at most once per port type.',
            HINT = 'Nothing to do; to associate them again use another port type both have.';
    END IF;
    v_slot1 := widgets._free_slot(v_id1, widget1_sn, v_port);
    v_slot2 := widgets._free_slot(v_id2, widget2_sn, v_port);
    -- Both halves in one statement: the symmetry key is checked at its end.
    UPDATE widgets.slots s SET partner_id = CASE s.widget_id WHEN v_id1 THEN v_id2 ELSE v_id1 END
    WHERE (s.widget_id, s.slot_no) IN ((v_id1, v_slot1), (v_id2, v_slot2));
END
$$;
COMMENT ON FUNCTION api.associate_widgets(text, text, text) IS
    'Associates two widgets over a port type (one free slot of that type on each). 404 unknown widget; 409 no free slot or already associated on that port; 400 same widget or bad port.';
GRANT EXECUTE ON FUNCTION api.associate_widgets(text, text, text) TO web_anon;

-- Ends the association of two widgets over a port type, freeing one slot on each.
CREATE OR REPLACE FUNCTION api.remove_association(widget1_sn text, widget2_sn text, port text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_port widgets.port_type := widgets._check_port(port);
    v_id1 bigint;
    v_id2 bigint;
    v_freed int;
BEGIN
    PERFORM widgets._check_serial(widget1_sn, 'widget1_sn'), widgets._check_serial(widget2_sn, 'widget2_sn');
    SELECT l.o_id1, l.o_id2 INTO v_id1, v_id2 FROM widgets._lock_pair(widget1_sn, widget2_sn) l;
    UPDATE widgets.slots s SET partner_id = NULL
    WHERE s.port = v_port AND ((s.widget_id = v_id1 AND s.partner_id = v_id2)
                            OR (s.widget_id = v_id2 AND s.partner_id = v_id1));
    GET DIAGNOSTICS v_freed = ROW_COUNT;
    IF v_freed = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'PT404',
            MESSAGE = format('widgets %s and %s are not associated on port type %s',
                             quote_literal(widget1_sn), quote_literal(widget2_sn), v_port),
            DETAIL = 'There is no association to remove.',
            HINT = 'See the widgets'' associations with get_widget.';
    END IF;
END
$$;
COMMENT ON FUNCTION api.remove_association(text, text, text) IS
    'Removes the association of two widgets over a port type, freeing a slot on each. 404 if unknown widget or not associated on that port.';
GRANT EXECUTE ON FUNCTION api.remove_association(text, text, text) TO web_anon;

-- Reads a widget: serial number, name and its slots in order, each with the partner's serial number (or null).
CREATE OR REPLACE FUNCTION api.get_widget(widget_sn text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_widget jsonb;
BEGIN
    PERFORM auth.check_text(widget_sn, 'widget_sn', 200);   -- longer names no widget (null or empty: 404)
    SELECT jsonb_build_object(
               'serial_number', w.serial_number,
               'name', w.name,
               'slots', coalesce((SELECT jsonb_agg(jsonb_build_object('slot', s.slot_no, 'port', s.port,
                                                                      'partner', p.serial_number)
                                                   ORDER BY s.slot_no)
                                  FROM widgets.slots s LEFT JOIN widgets.widgets p ON p.id = s.partner_id
                                  WHERE s.widget_id = w.id), '[]'::jsonb))
    INTO v_widget
    FROM widgets.widgets w WHERE w.serial_number = widget_sn;
    IF v_widget IS NULL THEN
        PERFORM widgets._raise_unknown(widget_sn);
    END IF;
    RETURN v_widget;
END
$$;
COMMENT ON FUNCTION api.get_widget(text) IS
    'A widget as {"serial_number","name","slots":[{"slot","port","partner"}]} (partner = serial number or null). 404 if unknown.';
GRANT EXECUTE ON FUNCTION api.get_widget(text) TO web_anon;
