extension OpenAPIDocument {
    /// `Idempotency-Key` on a POST to a function that writes (docs/idempotency.md).
    static var idempotencyKeyParameter: [String: Any] { [
        "name": "Idempotency-Key", "in": "header", "required": false,
        "description": "1 to 255 visible ASCII characters, e.g. a random UUID (400 IK400 otherwise). The first request with a key "
            + "runs the call and keeps its answer for db-idempotency-ttl seconds; a retry with the same key, caller and request "
            + "gets that answer again with Idempotent-Replayed: true, without running the function. The same key with another "
            + "request: 422 IK422; while the first still runs: 409 IK409 with Retry-After. Ignored on GET and on functions that "
            + "do not write.",
        "schema": ["type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"],
    ] }

    /// `Idempotent-Replayed: true` on an answer replayed for an `Idempotency-Key`.
    static var idempotentReplayedHeader: [String: Any] { [
        "description": "true when this is the stored answer of an earlier request with the same Idempotency-Key (the function did not run again)",
        "schema": ["type": "string", "enum": ["true"]],
    ] }

    /// The POST operation takes the header when one of the overloads writes (is VOLATILE).
    static func idempotencyReferences(_ overloads: [Routine]) -> [[String: Any]] {
        overloads.contains { $0.volatility == .volatile } ? [["$ref": "#/components/parameters/Idempotency-Key"]] : []
    }
}
