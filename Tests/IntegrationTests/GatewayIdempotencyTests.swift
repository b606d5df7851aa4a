import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// `Idempotency-Key` on POST through the real gateway (docs/idempotency.md): the first request runs and
/// its answer is stored in the call's transaction; a retry gets it again with `Idempotent-Replayed: true`
/// without running the function; another request with the key is 422, a concurrent twin 409 with
/// Retry-After; callers never share keys; a failed call stores nothing; answers expire; the header is
/// ignored where nothing is written; a database without the store refuses the header (501).
/// Each test uses its own keys and tags, so the suites may run in parallel on one database.
@Suite(.serialized)
struct GatewayIdempotencyTests {
    static let secret = "idempotency-test-secret-0123456789-abcdefgh"

    /// Functions in their own schema (idempotent, once per run). `record_call` writes one row per run
    /// (what "ran once" is counted by), answers 201 with a header and a body that differs per run
    /// (its row id), optionally after sleeping; `fail_while` fails while its tag is in `failing`. They are
    /// SECURITY DEFINER so that no API role writes the tables directly (Tests/pgtap/05_grants.sql).
    private static let fixtures: Result<Void, any Error> = Result {
        _ = try TestDatabase.connect().execute("""
            CREATE SCHEMA IF NOT EXISTS test_idem;
            GRANT USAGE ON SCHEMA test_idem TO web_anon, app_user;
            CREATE TABLE IF NOT EXISTS test_idem.calls (id bigserial PRIMARY KEY, tag text NOT NULL, caller text);
            CREATE TABLE IF NOT EXISTS test_idem.failing (tag text PRIMARY KEY);
            CREATE OR REPLACE FUNCTION test_idem.record_call(tag text, sleep double precision DEFAULT 0) RETURNS json
            LANGUAGE plpgsql SECURITY DEFINER AS $$
            DECLARE v_id bigint;
            BEGIN
                INSERT INTO test_idem.calls (tag, caller)
                VALUES (record_call.tag, current_setting('request.jwt.claims', true)::json ->> 'sub') RETURNING id INTO v_id;
                PERFORM pg_sleep(sleep);
                PERFORM set_config('response.status', '201', true);
                PERFORM set_config('response.headers', json_build_array(json_build_object('X-Call-Id', v_id::text))::text, true);
                RETURN json_build_object('tag', record_call.tag, 'id', v_id);
            END $$;
            CREATE OR REPLACE FUNCTION test_idem.fail_while(tag text) RETURNS bigint
            LANGUAGE plpgsql SECURITY DEFINER AS $$
            DECLARE v_id bigint;
            BEGIN
                INSERT INTO test_idem.calls (tag) VALUES (fail_while.tag) RETURNING id INTO v_id;
                IF EXISTS (SELECT FROM test_idem.failing f WHERE f.tag = fail_while.tag) THEN
                    RAISE EXCEPTION 'failing on purpose';
                END IF;
                RETURN v_id;
            END $$;
            CREATE OR REPLACE FUNCTION test_idem.touch(tag text) RETURNS void
            LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO test_idem.calls (tag) VALUES (touch.tag) $$;
            CREATE OR REPLACE FUNCTION test_idem.count_calls(tag text) RETURNS bigint
            LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT count(*) FROM test_idem.calls c WHERE c.tag = count_calls.tag $$;
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_idem TO web_anon, app_user;
            """)
    }

    private static func gateway(_ settings: [String: String] = [:]) throws -> GatewayProcess {
        try fixtures.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_idem\"", "jwt-secret": "\"\(secret)\""]
            .merging(settings) { $1 })
        try gateway.waitUntilReady()
        return gateway
    }

    private static let shared: Result<GatewayProcess, any Error> = Result { try gateway() }

    private func unique(_ name: String) -> String { "\(name)-\(UUID().uuidString)" }

    private func token(sub: String) -> (String, String) {
        ("Authorization", "Bearer " + JWTSigner.sign(claims: ["role": "app_user", "sub": sub], secret: Self.secret))
    }

    private func post(_ gateway: GatewayProcess, _ function: String, _ body: String, key: String?,
                      headers: [(String, String)] = []) throws -> HTTPClient.Response {
        try gateway.send("POST", "/rpc/\(function)", body: body,
                         headers: [("Content-Type", "application/json")] + (key.map { [("Idempotency-Key", $0)] } ?? []) + headers)
    }

    private func count(_ sql: String, _ parameters: [String?]) throws -> Int {
        Int((try TestDatabase.connect().query(sql, parameters).first?.first ?? nil) ?? "") ?? -1
    }

    /// The error body's code.
    private func code(_ response: HTTPClient.Response) -> String? {
        (response.json as? NSDictionary)?["code"] as? String
    }

    private func calls(_ tag: String) throws -> Int {
        try count("SELECT count(*)::text FROM test_idem.calls WHERE tag = $1", [tag])
    }

    private func storedKeys(_ key: String) throws -> Int {
        try count("SELECT count(*)::text FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash($1)", [key])
    }

    @Test func aRetryGetsTheFirstAnswerWithoutRunningTheFunctionAgain() throws {
        let gateway = try Self.shared.get()
        let tag = unique("replay"), key = unique("key")
        let body = #"{"tag":"\#(tag)"}"#
        let first = try post(gateway, "record_call", body, key: key)
        #expect(first.status == 201, "\(first.text)")
        #expect(first.header("Idempotent-Replayed") == nil)
        let callID = try #require(first.header("X-Call-Id"))
        for _ in 0..<2 {
            let again = try post(gateway, "record_call", body, key: key)
            #expect(again.status == 201, "\(again.text)")
            #expect(again.header("Idempotent-Replayed") == "true")
            #expect(again.text == first.text)
            #expect(again.header("X-Call-Id") == callID)
            #expect(again.header("Content-Type") == first.header("Content-Type"))
        }
        #expect(try calls(tag) == 1)
        #expect(try storedKeys(key) == 1)

        // A void function: the 204 is replayed too.
        let touchTag = unique("touch"), touchKey = unique("key")
        let done = try post(gateway, "touch", #"{"tag":"\#(touchTag)"}"#, key: touchKey)
        let replayed = try post(gateway, "touch", #"{"tag":"\#(touchTag)"}"#, key: touchKey)
        #expect(done.status == 204 && replayed.status == 204)
        #expect(replayed.header("Idempotent-Replayed") == "true")
        #expect(try calls(touchTag) == 1)
    }

    @Test func theSameKeyWithAnotherRequestIs422() throws {
        let gateway = try Self.shared.get()
        let tag = unique("mismatch"), key = unique("key")
        #expect(try post(gateway, "record_call", #"{"tag":"\#(tag)"}"#, key: key).status == 201)
        let others: [HTTPClient.Response] = [
            try post(gateway, "record_call", #"{"tag":"\#(tag)-other"}"#, key: key),                    // another body
            try post(gateway, "touch", #"{"tag":"\#(tag)"}"#, key: key),                                // another function
            try post(gateway, "record_call", #"{"tag":"\#(tag)"}"#, key: key, headers: [("Prefer", "tx=commit")]),  // another Prefer
            try post(gateway, "record_call", #"{"tag":"\#(tag)"}"#, key: key, headers: [("Accept", "application/json")]),  // another Accept
        ]
        for response in others {
            #expect(response.status == 422, "\(response.text)")
            #expect(code(response) == "IK422", "\(response.text)")
            #expect(response.header("Idempotent-Replayed") == nil)
        }
        #expect(try calls(tag) == 1)
        #expect(try calls(tag + "-other") == 0)
    }

    @Test func aTwinWhileTheFirstRunsIs409WithRetryAfter() throws {
        let gateway = try Self.shared.get()
        let tag = unique("twin"), key = unique("key")
        let body = #"{"tag":"\#(tag)","sleep":2}"#
        let first = Mutex<HTTPClient.Response?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let response = try? self.post(gateway, "record_call", body, key: key)
            first.withLock { $0 = response }
            done.signal()
        }
        // Wait until the first call sleeps inside its transaction (it holds the key's lock).
        let until = Date().addingTimeInterval(10)
        while Date() < until, try count("SELECT count(*)::text FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE $1",
                                        ["%record_call%"]) == 0 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let twin = try post(gateway, "record_call", body, key: key)
        #expect(twin.status == 409, "\(twin.text)")
        #expect(twin.header("Retry-After") == "1")
        #expect(code(twin) == "IK409", "\(twin.text)")
        #expect(done.wait(timeout: .now() + 15) == .success)
        let answer = try #require(first.withLock { $0 })
        #expect(answer.status == 201, "\(answer.text)")
        // Once the first committed, the retry gets its answer.
        let retry = try post(gateway, "record_call", body, key: key)
        #expect(retry.status == 201)
        #expect(retry.header("Idempotent-Replayed") == "true")
        #expect(retry.text == answer.text)
        #expect(try calls(tag) == 1)
    }

    @Test func keysOfDifferentCallersNeverCollide() throws {
        let gateway = try Self.shared.get()
        let tag = unique("callers"), key = unique("key")
        let body = #"{"tag":"\#(tag)"}"#
        let alice = try post(gateway, "record_call", body, key: key, headers: [token(sub: "alice-\(key)")])
        let bob = try post(gateway, "record_call", body, key: key, headers: [token(sub: "bob-\(key)")])
        let anonymous = try post(gateway, "record_call", body, key: key)
        for response in [alice, bob, anonymous] {
            #expect(response.status == 201, "\(response.text)")
            #expect(response.header("Idempotent-Replayed") == nil)
        }
        #expect(Set([alice.text, bob.text, anonymous.text]).count == 3)
        #expect(try calls(tag) == 3)
        // Each caller's retry gets its own first answer; a renewed token of the same user is the same caller.
        let aliceAgain = try post(gateway, "record_call", body, key: key,
                                  headers: [("Authorization", "Bearer " + JWTSigner.sign(
                                      claims: ["role": "app_user", "sub": "alice-\(key)", "exp": Int(Date().timeIntervalSince1970) + 600],
                                      secret: Self.secret))])
        #expect(aliceAgain.header("Idempotent-Replayed") == "true")
        #expect(aliceAgain.text == alice.text)
        let bobAgain = try post(gateway, "record_call", body, key: key, headers: [token(sub: "bob-\(key)")])
        #expect(bobAgain.text == bob.text)
        #expect(try calls(tag) == 3)
        #expect(try count("SELECT count(*)::text FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash($1) AND role_name = 'app_user'", [key]) == 2)
    }

    @Test func theCallerCannotBeForged() throws {
        let gateway = try Self.shared.get()
        let tag = unique("forge"), key = unique("key")
        let body = #"{"tag":"\#(tag)"}"#
        let victim = try post(gateway, "record_call", body, key: key, headers: [token(sub: "victim-\(key)")])
        #expect(victim.status == 201)
        // A token for the victim signed with another secret is refused before anything runs.
        let forged = try post(gateway, "record_call", body, key: key,
                              headers: [("Authorization", "Bearer " + JWTSigner.sign(claims: ["role": "app_user", "sub": "victim-\(key)"],
                                                                                    secret: String(Self.secret.reversed())))])
        #expect(forged.status == 401)
        // Claims in the request (body, headers, cookies) are not the caller: the attacker's own call runs.
        let attacker = try post(gateway, "record_call", body, key: key,
                                headers: [token(sub: "attacker-\(key)"), ("X-Sub", "victim-\(key)"), ("Cookie", "sub=victim-\(key)")])
        #expect(attacker.status == 201)
        #expect(attacker.header("Idempotent-Replayed") == nil)
        #expect(attacker.text != victim.text)
        // The stored rows name the verified callers only.
        let callers = try TestDatabase.connect().query(
            "SELECT subject FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash($1) ORDER BY subject", [key]).map { $0[0] ?? "" }
        #expect(callers == ["attacker-\(key)", "victim-\(key)"])
        #expect(try calls(tag) == 2)
    }

    @Test func aFailedCallStoresNothingAndItsRetryRuns() throws {
        let gateway = try Self.shared.get()
        let tag = unique("fail"), key = unique("key")
        let body = #"{"tag":"\#(tag)"}"#
        _ = try TestDatabase.connect().query("INSERT INTO test_idem.failing VALUES ($1)", [tag])
        let failed = try post(gateway, "fail_while", body, key: key)
        #expect(failed.status == 400, "\(failed.text)")
        #expect(try storedKeys(key) == 0)
        #expect(try calls(tag) == 0)
        _ = try TestDatabase.connect().query("DELETE FROM test_idem.failing WHERE tag = $1", [tag])
        let retried = try post(gateway, "fail_while", body, key: key)
        #expect(retried.status == 200, "\(retried.text)")
        #expect(retried.header("Idempotent-Replayed") == nil)
        let replayed = try post(gateway, "fail_while", body, key: key)
        #expect(replayed.header("Idempotent-Replayed") == "true")
        #expect(replayed.text == retried.text)
        #expect(try calls(tag) == 1)

        // A call rolled back on request (Prefer: tx=rollback) stores nothing either.
        let rollbackGateway = try Self.gateway(["db-tx-end": "\"commit-allow-override\""])
        let rollbackKey = unique("key"), rollbackTag = unique("rollback")
        for _ in 0..<2 {
            let response = try post(rollbackGateway, "record_call", #"{"tag":"\#(rollbackTag)"}"#, key: rollbackKey,
                                    headers: [("Prefer", "tx=rollback")])
            #expect(response.status == 201)
            #expect(response.header("Idempotent-Replayed") == nil)
        }
        #expect(try storedKeys(rollbackKey) == 0)
    }

    @Test func answersExpireAndAreDeletedWithoutAClient() throws {
        let gateway = try Self.gateway(["db-idempotency-ttl": "1"])
        let tag = unique("expiry"), key = unique("key")
        let body = #"{"tag":"\#(tag)"}"#
        #expect(try post(gateway, "record_call", body, key: key).status == 201)
        #expect(try storedKeys(key) == 1)
        #expect(try count("SELECT extract(epoch FROM expires_at - created_at)::int::text FROM gateway.idempotency_keys WHERE key_hash = gateway.key_hash($1)",
                          [key]) == 1)
        // The listener looks every second with a TTL of one second: the row goes without any request.
        let until = Date().addingTimeInterval(10)
        while Date() < until, try storedKeys(key) > 0 { Thread.sleep(forTimeInterval: 0.1) }
        #expect(try storedKeys(key) == 0)
        // The key is new again: the function runs.
        let again = try post(gateway, "record_call", body, key: key)
        #expect(again.status == 201)
        #expect(again.header("Idempotent-Replayed") == nil)
        #expect(try calls(tag) == 2)
    }

    @Test func theHeaderIsIgnoredWhereNothingIsWritten() throws {
        let gateway = try Self.shared.get()
        let tag = unique("read"), key = unique("key")
        // A STABLE function over POST runs read-only: run again, not replayed, nothing stored.
        for _ in 0..<2 {
            let response = try post(gateway, "count_calls", #"{"tag":"\#(tag)"}"#, key: key)
            #expect(response.status == 200, "\(response.text)")
            #expect(response.header("Idempotent-Replayed") == nil)
        }
        let get = try gateway.send("GET", "/rpc/count_calls?tag=\(tag)", headers: [("Idempotency-Key", key)])
        #expect(get.status == 200)
        #expect(get.header("Idempotent-Replayed") == nil)
        // Even a malformed key: the header means nothing there.
        let ignored = try gateway.send("GET", "/rpc/count_calls?tag=\(tag)", headers: [("Idempotency-Key", "has space")])
        #expect(ignored.status == 200)
        #expect(try storedKeys(key) == 0)
    }

    @Test func aMalformedKeyIs400() throws {
        let gateway = try Self.shared.get()
        let tag = unique("malformed")
        for key in [String(repeating: "k", count: 256), "two words", "caf\u{E9}"] {
            let response = try post(gateway, "record_call", #"{"tag":"\#(tag)"}"#, key: key)
            #expect(response.status == 400, "\(response.text)")
            #expect(code(response) == "IK400")
        }
        // Sent twice, the values arrive joined ("a, b"): refused, not guessed.
        let twice = try gateway.send("POST", "/rpc/record_call", body: #"{"tag":"\#(tag)"}"#,
                                     headers: [("Content-Type", "application/json"), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")])
        #expect(twice.status == 400)
        #expect(try calls(tag) == 0)
        let longest = String((unique("k") + String(repeating: "k", count: 255)).prefix(255))
        #expect(try post(gateway, "record_call", #"{"tag":"\#(tag)"}"#, key: longest).status == 201)
    }

    @Test func aDatabaseWithoutTheStoreRefusesTheHeader() throws {
        let db = try ScratchDatabase(prefix: "idem_nostore")
        _ = try db.connect().execute("""
            CREATE SCHEMA test_nostore;
            GRANT USAGE ON SCHEMA test_nostore TO web_anon;
            CREATE FUNCTION test_nostore.bump() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
            GRANT EXECUTE ON FUNCTION test_nostore.bump() TO web_anon;
            """)
        let gateway = try GatewayProcess(settings: ["db-uri": "\"\(GatewayProcess.authenticatorURI(database: db.name))\"",
                                                    "db-schemas": "\"test_nostore\""])
        try gateway.waitUntilReady()
        defer { gateway.stop() }
        let refused = try gateway.send("POST", "/rpc/bump", body: "{}",
                                       headers: [("Content-Type", "application/json"), ("Idempotency-Key", "k1")])
        #expect(refused.status == 501, "\(refused.text)")
        #expect(code(refused) == "IK501")
        let plain = try gateway.send("POST", "/rpc/bump", body: "{}", headers: [("Content-Type", "application/json")])
        #expect(plain.status == 200, "\(plain.text)")
    }

    /// nginx's compatibility routes pass the header on (nginx forwards a client's headers unless a location
    /// replaces them; these set only their own): a VM allocation retried through `GET /vms/v1/server`
    /// (POST /rpc/allocate_vm behind nginx's second hop) gets the first VM again, and the workspace route
    /// delivers the header to the gateway (a malformed key is the gateway's 400, not nginx's).
    @Test func nginxSeedRoutesPassTheKey() throws {
        let db = try ScratchDatabase(prefix: "idem_nginx")
        let root = TestDatabase.packageRoot
        let migrating = try db.connect()
        try migrating.execute("SET client_min_messages = warning")
        _ = try Migrator(connection: migrating, migrationsDirectory: "\(root)/migrations", repeatableDirectory: "\(root)/sql").migrate()
        _ = try db.connect().execute("SELECT api.register_server('idem-nginx', 65536, 64, '100.98.0.0/24'::cidr)")
        let gateway = try GatewayProcess(settings: ["db-uri": "\"\(GatewayProcess.authenticatorURI(database: db.name))\"",
                                                    "db-schemas": "\"api\"", "jwt-secret": "\"\(Self.secret)\""])
        try gateway.waitUntilReady()
        defer { gateway.stop() }
        let nginx = try NginxProcess(upstreams: [gateway.port])
        defer { nginx.stop() }
        let user = token(sub: unique("vm-user"))
        let key = unique("alloc")
        var answers: [HTTPClient.Response] = []
        for _ in 0..<2 {
            answers.append(try HTTPClient.send(port: nginx.port, method: "GET", path: "/vms/v1/server?ram=1024&cpu=1",
                                               headers: [user, ("Idempotency-Key", key)]))
        }
        #expect((200..<300).contains(answers[0].status), "\(answers[0].text)")
        #expect(answers[0].header("Idempotent-Replayed") == nil)
        #expect(answers[1].status == answers[0].status)
        #expect(answers[1].header("Idempotent-Replayed") == "true")
        #expect(answers[1].text == answers[0].text)
        #expect(try db.connect().query("SELECT count(*)::text FROM vms.vms") == [["1"]])
        // Another size with the same key is another request.
        let other = try HTTPClient.send(port: nginx.port, method: "GET", path: "/vms/v1/server?ram=2048&cpu=1",
                                        headers: [user, ("Idempotency-Key", key)])
        #expect(other.status == 422, "\(other.text)")

        let workspace = try HTTPClient.send(port: nginx.port, method: "POST", path: "/v1/users/someone/workspaces",
                                            body: Array(#"{"projectName":"p","parentName":"i"}"#.utf8),
                                            headers: [user, ("Content-Type", "application/json"), ("Idempotency-Key", "two words")])
        #expect(workspace.status == 400, "\(workspace.text)")
        #expect(code(workspace) == "IK400", "\(workspace.text)")
    }

    /// The gateway's login needs no privilege on the store: the claim and the store run as the API role
    /// the request switched to (a login without USAGE on the schema once failed the schema cache's load).
    @Test func aLoginRoleWithoutPrivilegesOnTheStoreStillServesKeys() throws {
        try Self.fixtures.get()
        let role = "idem_login_\(UInt32.random(in: 0...UInt32.max))"
        let database = try TestDatabase.connect()
        _ = try database.execute("CREATE ROLE \(role) LOGIN NOINHERIT; GRANT web_anon TO \(role)")
        var gateway: GatewayProcess?
        defer {
            gateway?.stop()
            _ = try? database.execute("DROP OWNED BY \(role); DROP ROLE \(role)")
        }
        let uri = TestDatabase.uri().replacingOccurrences(of: "://postgres@", with: "://\(role)@")
        gateway = try GatewayProcess(settings: ["db-uri": "\"\(uri)\"", "db-schemas": "\"test_idem\""])
        let running = try #require(gateway)
        try running.waitUntilReady()
        let tag = unique("login"), key = unique("key")
        let first = try post(running, "record_call", #"{"tag":"\#(tag)"}"#, key: key)
        let again = try post(running, "record_call", #"{"tag":"\#(tag)"}"#, key: key)
        #expect(first.status == 201, "\(first.text)")
        #expect(again.header("Idempotent-Replayed") == "true")
        #expect(try calls(tag) == 1)
    }
}
