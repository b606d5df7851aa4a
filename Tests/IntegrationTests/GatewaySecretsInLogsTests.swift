import Foundation
import Testing
@testable import GatewayCore

/// No secret or token appears in any log line: the real gateway at log-level debug, its
/// whole stdout and stderr captured, with valid and invalid tokens (in the header, the query string
/// and a cookie), and with database logins that fail; the log never holds the jwt-secret, a token,
/// or the database password.
@Suite
struct GatewaySecretsInLogsTests {
    let secret = "jwt-secret-\(UUID().uuidString)-never-logged"
    let password = "db-Password-\(UInt32.random(in: 0...UInt32.max))-never-logged"

    func token(_ claims: [String: Any], secret: String) -> String { JWTSigner.sign(claims: claims, secret: secret) }

    /// The log, after the gateway stopped (so every line is flushed).
    func finalLog(_ gateway: GatewayProcess) -> String {
        gateway.stop()
        return gateway.log
    }

    func expectClean(_ log: String, of secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!log.isEmpty, sourceLocation: sourceLocation)
        for secret in secrets where !secret.isEmpty {
            let leaks = log.split(separator: "\n").filter { $0.contains(secret) }
            #expect(leaks.isEmpty, "leaked \(secret.prefix(12))... in: \(leaks.prefix(3))", sourceLocation: sourceLocation)
        }
    }

    /// Pieces of a JWT that identify it: the whole token and its signature.
    func pieces(of token: String) -> [String] {
        [token, String(token.split(separator: ".").last ?? "")]
    }

    @Test func requestsWithTokensLeaveNoSecretInTheLog() throws {
        try GatewayProcess.applyFixtures()
        // The password is part of the URI; the socket's trust login does not need it, so this gateway works.
        let uri = GatewayProcess.authenticatorURI.replacingOccurrences(of: "://authenticator@", with: "://authenticator:\(password)@")
        let gateway = try GatewayProcess(settings: ["db-uri": "\"\(uri)\"", "jwt-secret": "\"\(secret)\"", "log-level": "\"debug\""])
        try gateway.waitUntilReady()
        let now = Int(Date().timeIntervalSince1970)
        let valid = token(["role": "web_anon", "sub": "logs", "exp": now + 300], secret: secret)
        let expired = token(["role": "web_anon", "exp": now - 3600], secret: secret)
        let forged = token(["role": "web_anon", "exp": now + 300], secret: "another-secret-that-is-32-characters-or-more")
        let unknownRole = token(["role": "no_such_role_logs", "exp": now + 300], secret: secret)
        let garbage = "not.a.jwt-\(UUID().uuidString)"
        for bearer in [valid, expired, forged, unknownRole, garbage] {
            _ = try gateway.send("GET", "/rpc/hello", headers: [("Authorization", "Bearer \(bearer)")])
            _ = try gateway.send("POST", "/rpc/raise_exception", headers: [("Authorization", "Bearer \(bearer)")])
            _ = try gateway.send("GET", "/rpc/hello?access_token=\(bearer)&jwt=\(bearer)")
            _ = try gateway.send("GET", "/rpc/no_such_function_\(bearer.prefix(8))", headers: [("Cookie", "session=\(bearer)")])
            _ = try gateway.send("POST", "/rpc/single_json_param", body: "{\"token\": \"\(bearer)\"}",
                                 headers: [("Content-Type", "application/json")])
        }
        #expect(try gateway.send("GET", "/rpc/hello", headers: [("Authorization", "Bearer \(valid)")]).status == 200)
        kill(gateway.process.processIdentifier, SIGUSR1)   // a schema reload logs too
        Thread.sleep(forTimeInterval: 0.3)
        let log = finalLog(gateway)
        #expect(log.contains("GET /rpc/hello 200"), "the access log ran at this level")
        expectClean(log, of: [secret, password] + [valid, expired, forged, unknownRole, garbage].flatMap(pieces))
    }

    @Test func failingDatabaseLoginsLeaveNoPasswordInTheLog() throws {
        // TCP logins need the right password: these fail (wrong password, unknown user, bad escapes).
        let port = TestDatabase.port
        let database = URL(string: TestDatabase.uri())?.path.dropFirst() ?? "platform_test"
        let uris = [
            "postgresql://authenticator:\(password)@127.0.0.1:\(port)/\(database)",
            "postgresql://nobody_\(UInt16.random(in: 0...9999)):\(password)@127.0.0.1:\(port)/\(database)",
            "postgresql://authenticator@127.0.0.1:\(port)/\(database)?password=\(password)",
            "postgresql://authenticator:%zz\(password)@127.0.0.1:\(port)/\(database)",
            "host=127.0.0.1 port=\(port) dbname=\(database) user=authenticator password=\(password)",
            "host=127.0.0.1 port=\(port) dbname=\(database) user=authenticator password='\(password) x' bad",
        ]
        for uri in uris {
            let gateway = try GatewayProcess(settings: ["db-uri": "\"\(uri)\"", "jwt-secret": "\"\(secret)\"", "log-level": "\"debug\""])
            var status = 0
            let until = Date().addingTimeInterval(10)
            while Date() < until {
                status = (try? gateway.send("GET", "/rpc/hello", headers: [("Authorization", "Bearer \(token(["role": "web_anon"], secret: secret))")]).status) ?? 0
                if status != 0 && gateway.log.contains("failed") { break }
                if !gateway.process.isRunning { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(status == 503 || !gateway.process.isRunning, "\(uri.prefix(30)): \(status)")
            let log = finalLog(gateway)
            #expect(log.contains("failed") || log.contains("invalid") || log.contains("error"), "\(log.prefix(400))")
            expectClean(log, of: [secret, password, "%zz\(password)"])
            if uri.contains("%zz") {
                #expect(log.contains("invalid percent-encoded token: \"[REDACTED]\""), "libpq quotes the token; the log redacts it")
            }
        }
    }

    @Test func aRefusedConfigurationLeavesNoSecretInTheLog() throws {
        // Refused at start (short secret, bad pool size): the message names the key, not the value.
        let short = "short-\(UInt16.random(in: 0...9999))"
        for settings in [["jwt-secret": "\"\(short)\""], ["jwt-secret": "\"\(secret)\"", "db-pool": "\"lots\""],
                         ["jwt-secret": secret], ["jwt-secret": "\"\(secret)\" \(secret)"],
                         ["jwt-secret": "\"\(secret)\"", "db-uri-read": "postgresql://u:\(password)@h/db"]] {
            let gateway = try GatewayProcess(settings: settings.merging(["db-uri": "\"postgresql://authenticator:\(password)@127.0.0.1:1/x\""]) { $1 })
            gateway.process.waitUntilExit()
            let log = gateway.log
            #expect(gateway.process.terminationStatus != 0)
            expectClean(log, of: [short, secret, password])
        }
    }
}
