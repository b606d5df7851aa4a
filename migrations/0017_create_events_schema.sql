-- Live events: each user's builds and workspaces announce their status changes on a channel of that
-- user, which the gateway streams as server-sent events (GET /notify/<channel>, docs/events.md). This
-- schema holds the private helpers (the channel of a user, the triggers that notify); the function the
-- gateway asks, api.can_listen, and the triggers themselves are in sql/events.sql.
SET LOCAL ROLE platform_owner;

CREATE SCHEMA events;
COMMENT ON SCHEMA events IS
    'Private: the channels of live events (one per user) and the triggers that notify them. Used by api.can_listen.';
REVOKE ALL ON SCHEMA events FROM PUBLIC;
-- api.can_listen runs as the caller (app_user) and names channels with its helper.
GRANT USAGE ON SCHEMA events TO app_user;
