-- Widgets: a widget has a unique serial number, a name and 0 to 3 port slots (P, R or Q) fixed at
-- creation. Two widgets are associated over a port type when each uses one free slot of that type.
--
-- Why this shape: every rule that PostgreSQL can enforce is a constraint here, so no bug in a function
-- (or a DBA's manual UPDATE) can store an illegal state:
--   * one row per slot; the slot records its partner widget (NULL = free). A slot has a single partner
--     column, so no slot can be used twice.
--   * (widget_id, slot_no) is the key and slot_no is 1..3: at most 3 slots per widget.
--   * UNIQUE (widget_id, partner_id, port): two widgets share a port type at most once. NULLs are
--     distinct, so a widget may have several free slots of one type (QQ).
--   * the self-referencing FOREIGN KEY (partner_id, widget_id, port) -> (widget_id, partner_id, port)
--     makes associations symmetric: if A's P slot names B, then B has a P slot that names A (and, by
--     the unique constraint, exactly one). Both halves are written by one UPDATE; the check runs at
--     the end of that statement.
--   * ON DELETE SET NULL (partner_id) on that key frees the partner's slot when a widget (and with it,
--     by cascade, its slots) is removed.
-- The tables live in the private schema `widgets`; callers only get EXECUTE on functions in `api`
-- (sql/widgets.sql), which are SECURITY DEFINER.
SET LOCAL ROLE platform_owner;

CREATE SCHEMA IF NOT EXISTS api;
COMMENT ON SCHEMA api IS 'Functions exposed over /rpc; nothing else lives here.';
GRANT USAGE ON SCHEMA api TO web_anon;

CREATE SCHEMA widgets;
COMMENT ON SCHEMA widgets IS 'Private: widget tables and helpers. Callers go through the api schema.';
REVOKE ALL ON SCHEMA widgets FROM PUBLIC;

CREATE TYPE widgets.port_type AS ENUM ('P', 'R', 'Q');
COMMENT ON TYPE widgets.port_type IS 'The supported port types of a widget slot.';

CREATE TABLE widgets.widgets (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT widgets_pkey PRIMARY KEY,
    -- COLLATE "C": byte-wise comparison makes the unique index cheaper to build and probe; equality is the same.
    serial_number text COLLATE "C" NOT NULL CONSTRAINT widgets_serial_number_key UNIQUE,
    name          text NOT NULL,
    CONSTRAINT widgets_serial_number_length CHECK (length(serial_number) BETWEEN 1 AND 200)
);
COMMENT ON TABLE widgets.widgets IS 'One row per widget. Removing a row removes its slots and frees its partners'' slots.';
COMMENT ON COLUMN widgets.widgets.serial_number IS 'Unique, 1 to 200 characters; the callers'' handle on a widget.';

CREATE TABLE widgets.slots (
    widget_id  bigint NOT NULL CONSTRAINT slots_widget_id_fkey REFERENCES widgets.widgets (id) ON DELETE CASCADE,
    partner_id bigint,                    -- the associated widget; NULL while the slot is free
    slot_no    smallint NOT NULL,
    port       widgets.port_type NOT NULL,
    CONSTRAINT slots_pkey PRIMARY KEY (widget_id, slot_no),
    CONSTRAINT slots_slot_no_range CHECK (slot_no BETWEEN 1 AND 3),
    CONSTRAINT slots_partner_id_not_self CHECK (partner_id <> widget_id),
    CONSTRAINT slots_partner_id_once_per_port UNIQUE (widget_id, partner_id, port),
    CONSTRAINT slots_partner_id_symmetric FOREIGN KEY (partner_id, widget_id, port)
        REFERENCES widgets.slots (widget_id, partner_id, port) ON DELETE SET NULL (partner_id)
);
COMMENT ON TABLE widgets.slots IS 'Port slots of widgets (at most 3 each), fixed at creation; partner_id is the associated widget or NULL.';
COMMENT ON CONSTRAINT slots_partner_id_symmetric ON widgets.slots IS
    'Associations are symmetric: the partner has a slot of the same port that names this widget.';
COMMENT ON CONSTRAINT slots_partner_id_once_per_port ON widgets.slots IS
    'Two widgets are associated at most once per port type; also the key the symmetry FK references.';
