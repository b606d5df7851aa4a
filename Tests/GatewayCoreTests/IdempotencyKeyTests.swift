import Testing
@testable import GatewayCore

/// `Idempotency-Key` without a database: the key's rules, what the request hash covers, where the plan
/// applies it (claim before the call, store inside the call's statement), and the replay's rendering.
@Suite struct IdempotencyKeyTests {
    /// The fixtures' catalog with the store present (as after `gateway migrate`).
    static let catalog: Catalog = {
        var catalog = Catalog(routines: Fixtures.routines)
        catalog.hasIdempotencyStore = true
        return catalog
    }()

    func plan(_ method: String, _ path: String, query: String = "", body: String = "{}", headers: [String: String],
              catalog: Catalog = IdempotencyKeyTests.catalog) throws -> CallPlan {
        try CallPlan(request: Fixtures.request(method, path, query: query, body: body, headers: headers), catalog: catalog,
                     config: Fixtures.config)
    }

    @Test func keysAreOneToTwoHundredFiftyFiveVisibleASCIICharacters() throws {
        func key(_ value: String) throws -> IdempotencyKey? {
            try IdempotencyKey(request: Fixtures.request("POST", "/rpc/f", headers: ["idempotency-key": value]))
        }
        #expect(try key("550e8400-e29b-41d4-a716-446655440000")?.key == "550e8400-e29b-41d4-a716-446655440000")
        #expect(try key(String(repeating: "k", count: 255))?.key.count == 255)
        #expect(try IdempotencyKey(request: Fixtures.request("POST", "/rpc/f")) == nil)
        for bad in ["", String(repeating: "k", count: 256), "a, b", "tab\there", "caf\u{E9}", "nul\u{0}"] {
            #expect(throws: APIError.self) { try key(bad) }
        }
    }

    @Test func theHashCoversWhatRendersTheAnswer() {
        func hash(_ method: String = "POST", _ path: String = "/rpc/f", query: String = "", body: String = "{}",
                  headers: [String: String] = [:]) -> String {
            IdempotencyKey.hash(Fixtures.request(method, path, query: query, body: body, headers: headers))
        }
        let base = hash()
        #expect(base.count == 64)
        #expect(hash() == base)
        // What changes the call or its answer changes the hash...
        #expect(hash(body: #"{"a":1}"#) != base)
        #expect(hash(query: "select=a") != base)
        #expect(hash("/rpc/g") != base)
        for name in IdempotencyKey.hashedHeaders {
            #expect(hash(headers: [name: "x"]) != base, "\(name)")
            #expect(hash(headers: [name: ""]) != base, "\(name) present but empty is not absent")
        }
        // ...and what a retry may change does not.
        #expect(hash(headers: ["authorization": "Bearer renewed", "user-agent": "retry/2", "x-forwarded-for": "10.0.0.2",
                               "idempotency-key": "k"]) == base)
        // Parts are length-prefixed: moving bytes between them is another request.
        #expect(hash("/rpc/fa", body: "{}") != hash("/rpc/f", body: "a{}"))
    }

    @Test func aPostToAWritingFunctionClaimsThenStoresInTheCallsStatement() throws {
        let plan = try plan("POST", "/rpc/ret_void", headers: ["idempotency-key": "k1", "content-type": "application/json"])
        let key = try #require(plan.idempotencyKey)
        #expect(key.key == "k1")
        #expect(plan.statements.count == 3)
        #expect(plan.statements[1] == IdempotencySQL.claim(key))
        #expect(plan.statements[1].parameters == ["k1", key.requestHash])
        #expect(plan.resultIndex == 2)
        let call = plan.statements[2]
        #expect(call.sql.contains("gateway.store_idempotent_result($1, $2, $3::integer, pgrst_result.pgrst_body"))
        #expect(call.sql.hasSuffix(") " + IdempotencySQL.resultColumns))
        #expect(call.parameters == ["k1", key.requestHash, "86400"])
        // Without the header, the call is as before.
        let plain = try self.plan("POST", "/rpc/ret_void", headers: [:])
        #expect(plain.idempotencyKey == nil)
        #expect(plain.statements.count == 2)
        #expect(!plain.statements[1].sql.contains("gateway."))
    }

    @Test func theStoreParametersFollowTheCallsAndTheShapes() throws {
        var config = Fixtures.config
        config.dbIdempotencyTTL = 60
        let plan = try CallPlan(request: Fixtures.request("POST", "/rpc/overloaded", query: "limit=1",
                                                          body: #"{"a":1,"b":2}"#, headers: ["idempotency-key": "k2"]),
                                catalog: Self.catalog, config: config)
        let call = plan.statements[plan.resultIndex]
        let count = call.parameters.count
        #expect(count == 6)   // a, b, the limit, then the store's three
        #expect(Array(call.parameters.suffix(3)) == ["k2", plan.idempotencyKey?.requestHash, "60"])
        #expect(call.sql.contains("gateway.store_idempotent_result($\(count - 2), $\(count - 1), $\(count)::integer"))
    }

    @Test func ignoredWhereNothingIsWritten() throws {
        // GET, and POST to a STABLE function: no claim, no store, even with a malformed key.
        for request in [("GET", "/rpc/noparamsproc"), ("POST", "/rpc/noparamsproc")] {
            let plan = try plan(request.0, request.1, body: request.0 == "GET" ? "" : "{}", headers: ["idempotency-key": "bad key"])
            #expect(plan.idempotencyKey == nil)
            #expect(!plan.statements.contains { $0.sql.contains("gateway.") })
        }
    }

    @Test func refusedWithoutAStoreOrWithABadKey() throws {
        let noStore = try #require(Fixtures.failure("POST", "/rpc/ret_void", body: "{}", headers: ["idempotency-key": "k"]))
        #expect(noStore.status == 501)
        #expect(noStore.bodyText.contains(#""code":"IK501""#))
        do {
            _ = try plan("POST", "/rpc/ret_void", headers: ["idempotency-key": "two words"])
            Issue.record("a malformed key was accepted")
        } catch {
            let response = HTTPResponse(error: error, authenticated: false)
            #expect(response.status == 400)
            #expect(response.bodyText.contains(#""code":"IK400""#))
        }
    }

    @Test func aReplayRendersTheStoredRowAsTheFirstAnswer() throws {
        let plan = try plan("POST", "/rpc/many_defaults", body: #"{"a":1}"#, headers: ["idempotency-key": "k3"])
        let row: [String?] = [#""hello x""#, "201", #"[{"X-Thing":"1"}]"#, "1", nil]
        let first = try HTTPResponse(plan: plan, outcome: .success([row]))
        let stored = PGError(sqlState: IdempotencySQL.replayState, message: "replay",
                             detail: #"["\"hello x\"","201","[{\"X-Thing\":\"1\"}]","1",null]"#)
        let replay = try HTTPResponse(plan: plan, outcome: .failure(stored))
        #expect(replay.status == 201)
        #expect(replay.body == first.body)
        #expect(replay.headers.filter { $0.0 != "Idempotent-Replayed" }.map { "\($0.0): \($0.1)" }
                == first.headers.map { "\($0.0): \($0.1)" })
        #expect(replay.headers.contains { $0 == ("Idempotent-Replayed", "true") })
        #expect(!first.headers.contains { $0.0 == "Idempotent-Replayed" })
        // The replay state means nothing to a request without a key (a function raising it is an error).
        let plain = try self.plan("POST", "/rpc/many_defaults", body: #"{"a":1}"#, headers: [:])
        #expect(throws: PGError.self) { try HTTPResponse(plan: plain, outcome: .failure(stored)) }
        // An unreadable stored row is a 500, not a guess.
        let broken = PGError(sqlState: IdempotencySQL.replayState, message: "replay", detail: "[1,2]")
        #expect(throws: APIError.self) { try HTTPResponse(plan: plan, outcome: .failure(broken)) }
    }

    @Test func theTTLIsAConfigKey() throws {
        #expect(GatewayConfig().dbIdempotencyTTL == 86_400)
        #expect(try GatewayConfig.load(file: nil, environment: ["PGRST_DB_IDEMPOTENCY_TTL": "60"]).dbIdempotencyTTL == 60)
        #expect(throws: ConfigError.self) { try GatewayConfig.load(file: nil, environment: ["PGRST_DB_IDEMPOTENCY_TTL": "0"]) }
        #expect(IdempotencyExpiry(ttlSeconds: 1).interval == 1_000_000_000)
        #expect(IdempotencyExpiry(ttlSeconds: 86_400).interval == 60_000_000_000)
    }
}
