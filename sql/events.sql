-- Live events (docs/events.md): every status change of a build or a workspace is announced, in the
-- transaction that makes it, on the channel of the user it belongs to (the build's requested_by, the
-- workspace's owner), with pg_notify: delivered at commit, in commit order, never for a rollback. The
-- gateway streams a channel to whoever api.can_listen allows: each user only their own.
-- Repeatable: re-applied on every migrate.
--
-- A user's channel is `user-` and the md5 of their sub (subs are up to 255 characters; a channel is at
-- most 63 bytes): api.my_event_channel() names it. Payloads are JSON objects with an "event" member:
--   {"event":"build-status","build":1,"image_id":2,"change":3,"status":"SUCCEEDED"}
--   {"event":"workspace-status","workspace":4,"project":"p","status":"READY"}  (DELETED when removed)
-- A NOTIFY takes a lock at commit that serialises notifying commits; one per status change is the
-- price of live status and stays small next to the work each change stands for.
SET LOCAL ROLE platform_owner;

-- The channel of the user `p_sub`.
CREATE OR REPLACE FUNCTION events._user_channel(p_sub text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = ''
AS $$ SELECT 'user-' || md5(p_sub) $$;
REVOKE ALL ON FUNCTION events._user_channel(text) FROM PUBLIC;
-- api.can_listen and api.my_event_channel run as the caller.
GRANT EXECUTE ON FUNCTION events._user_channel(text) TO app_user;
COMMENT ON FUNCTION events._user_channel(text) IS 'Private: the live-event channel of a user (their sub).';

-- Announces `p_payload` on the channel of the user `p_sub` (at commit).
CREATE OR REPLACE FUNCTION events._emit(p_sub text, p_payload json)
RETURNS void
LANGUAGE sql
SET search_path = ''
AS $$ SELECT pg_notify(events._user_channel(p_sub), p_payload::text) $$;
REVOKE ALL ON FUNCTION events._emit(text, json) FROM PUBLIC;
COMMENT ON FUNCTION events._emit(text, json) IS 'Private: NOTIFY a user''s live-event channel (delivered at commit).';

-- Trigger: a build's status as a build-status event to the user who requested it. SECURITY DEFINER:
-- whoever changes the build (a worker, an operator, the user) needs no rights on this schema.
CREATE OR REPLACE FUNCTION events._notify_build_status()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status THEN
        RETURN NULL;
    END IF;
    PERFORM events._emit(NEW.requested_by,
                         json_build_object('event', 'build-status', 'build', NEW.id, 'image_id', NEW.image_id,
                                           'change', NEW.change_number, 'status', NEW.status));
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION events._notify_build_status() FROM PUBLIC;
COMMENT ON FUNCTION events._notify_build_status() IS 'Private trigger: NOTIFY the requester''s channel of a build''s status.';

CREATE OR REPLACE TRIGGER builds_status_notify
    AFTER INSERT OR UPDATE OF status ON workspaces.builds
    FOR EACH ROW EXECUTE FUNCTION events._notify_build_status();

-- Trigger: a workspace's state as a workspace-status event to its owner (DELETED when the row goes).
CREATE OR REPLACE FUNCTION events._notify_workspace_status()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
    v_row workspaces.workspaces := CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state THEN
        RETURN NULL;
    END IF;
    PERFORM events._emit(v_row.owner,
                         json_build_object('event', 'workspace-status', 'workspace', v_row.id, 'project', v_row.project_name,
                                           'status', CASE TG_OP WHEN 'DELETE' THEN 'DELETED' ELSE v_row.state::text END));
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION events._notify_workspace_status() FROM PUBLIC;
COMMENT ON FUNCTION events._notify_workspace_status() IS 'Private trigger: NOTIFY the owner''s channel of a workspace''s state.';

CREATE OR REPLACE TRIGGER workspaces_status_notify
    AFTER INSERT OR UPDATE OF state OR DELETE ON workspaces.workspaces
    FOR EACH ROW EXECUTE FUNCTION events._notify_workspace_status();

-- The caller's live-event channel (GET /notify/<it> streams their builds' and workspaces' status).
CREATE OR REPLACE FUNCTION api.my_event_channel()
RETURNS text
LANGUAGE sql STABLE
SET search_path = ''
AS $$ SELECT events._user_channel(auth.current_user_id()) $$;
REVOKE ALL ON FUNCTION api.my_event_channel() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.my_event_channel() TO app_user;
COMMENT ON FUNCTION api.my_event_channel() IS
    'The caller''s live-event channel: GET /notify/<channel> with Accept: text/event-stream streams their build-status and workspace-status events.';

-- Asked by the gateway for GET /notify/<channel>: true for the caller's own channel, false for another
-- user's, null (404) for a channel that is no user's.
CREATE OR REPLACE FUNCTION api.can_listen(channel text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = ''
AS $$
    SELECT CASE
        WHEN auth.check_text(channel, 'channel', 63) = events._user_channel(auth.current_user_id()) THEN true
        WHEN channel ~ '^user-[0-9a-f]{32}$' THEN false
    END
$$;
REVOKE ALL ON FUNCTION api.can_listen(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.can_listen(text) TO app_user;
COMMENT ON FUNCTION api.can_listen(text) IS
    'Whether the caller may stream a channel (GET /notify/<channel>): true for their own (api.my_event_channel), false for another user''s, null for none.';
