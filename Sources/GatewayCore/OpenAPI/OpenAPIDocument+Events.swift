extension OpenAPIDocument {
    /// `GET /notify/{channel}`, listed when the schema has `can_listen(channel text) RETURNS boolean`.
    static var notifyPathItem: [String: Any] {
        let error: [String: Any] = ["$ref": "#/components/responses/Error"]
        return ["get": [
            "operationId": "notify",
            "summary": "Server-sent events of a LISTEN/NOTIFY channel",
            "description": "Streams each pg_notify(channel, payload) committed after the response headers, in commit order, "
                + "as `data: <line>` per payload line and a blank line (text/event-stream), within 2 s of the commit; a "
                + "`: keep-alive` comment every server-sse-keepalive-seconds (15). The schema's can_listen(channel), run as "
                + "the caller with its JWT claims, decides: true 200, false 403, null 404. The stream ends when the caller's token "
                + "expires, the gateway stops or its LISTEN connection breaks (reconnect: notifications meanwhile are not replayed), and is cut "
                + "when the client falls server-sse-max-buffer-bytes behind.",
            "parameters": [
                ["name": "channel", "in": "path", "required": true, "description": "A PostgreSQL channel name (1 to 63 bytes)",
                 "schema": ["type": "string", "minLength": 1]],
                ["name": "Accept", "in": "header", "required": true, "schema": ["type": "string", "const": ListenPlan.mediaType]],
                ["name": "Accept-Profile", "in": "header", "required": false,
                 "description": "The exposed schema whose can_listen decides (default: the first)", "schema": ["type": "string"]],
            ],
            "responses": [
                "200": ["description": "The event stream (chunked, endless)",
                        "content": [ListenPlan.mediaType: ["schema": ["type": "string"],
                                                           "example": ": listening\n\ndata: {\"event\":\"build-status\"}\n\n"]]],
                "400": error, "401": error, "403": error, "404": error, "406": error,
                "503": ["$ref": "#/components/responses/Unavailable"],
            ],
        ] as [String: Any]]
    }
}
