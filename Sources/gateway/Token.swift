import ArgumentParser
import Foundation
import GatewayCore

/// `gateway token`: mints an HS256 token for local use, signed with the gateways' jwt-secret.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a signed JWT (HS256) for local use.",
        discussion: """
            The secret comes from --secret-file, else $PGRST_JWT_SECRET, else .data/secrets/jwt.secret (written by
            make up). Example: gateway token --role app_user --sub 42 --expires 1h
            An agent's token names the one agent it is (the SQL lets it act only for that one):
              gateway token --role worker --host host-1     a workspace host's agent (its tasks only)
              gateway token --role worker --node node-7     a compute node's agent (its heartbeats only)
              gateway token --role worker --mailer mailer-1 the mail sender (the only reader of mail)
            """
    )

    @Option(help: "Database role the token runs as (the role claim).")
    var role: String

    @Option(help: "Subject: the user the token identifies (the `sub` claim).")
    var sub: String?

    @Option(help: "Lifetime, e.g. 90s, 30m, 1h, 7d (sets exp; iat is now).")
    var expires: String = "1h"

    @Option(help: "Audience (the `aud` claim), when the gateways set jwt-aud.")
    var aud: String?

    @Option(help: "The workspace host this agent token acts for (the `host` claim).")
    var host: String?

    @Option(help: "The compute node this agent token acts for (the `node` claim).")
    var node: String?

    @Option(help: "The mail sender this token is (the `mailer` claim).")
    var mailer: String?

    @Option(name: .customLong("secret-file"), help: "File holding the jwt-secret.")
    var secretFile: String?

    func validate() throws {
        guard Self.seconds(expires) != nil else { throw ValidationError("--expires must look like 90s, 30m, 1h or 7d") }
        guard !role.isEmpty else { throw ValidationError("--role must not be empty") }
        for (flag, value) in [("--host", host), ("--node", node), ("--mailer", mailer)] where value?.isEmpty == true {
            throw ValidationError("\(flag) must not be empty")
        }
        guard [host, node, mailer].compactMap({ $0 }).count <= 1 else {
            throw ValidationError("a token names one agent: give at most one of --host, --node, --mailer")
        }
    }

    func run() throws {
        let secret = try loadSecret()
        guard secret.count >= 32 else { throw ValidationError("the jwt-secret must be at least 32 characters") }
        let now = Int(Date().timeIntervalSince1970)
        var claims: [String: Any] = ["role": role, "iat": now, "exp": now + Self.seconds(expires)!]
        if let sub { claims["sub"] = sub }
        if let aud { claims["aud"] = aud }
        if let host { claims["host"] = host }
        if let node { claims["node"] = node }
        if let mailer { claims["mailer"] = mailer }
        print(JWTSigner.sign(claims: claims, secret: secret))
    }

    private func loadSecret() throws -> String {
        if let secretFile { return try String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        if let env = ProcessInfo.processInfo.environment["PGRST_JWT_SECRET"] { return env }
        let local = ".data/secrets/jwt.secret"
        guard let text = try? String(contentsOfFile: local, encoding: .utf8) else {
            throw ValidationError("no secret: pass --secret-file, set PGRST_JWT_SECRET, or run make up (writes \(local))")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// "90s" / "30m" / "1h" / "7d" / "3600" -> seconds.
    static func seconds(_ text: String) -> Int? {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        if let unit = text.last.flatMap({ units[$0] }), let n = Int(text.dropLast()), n > 0 { return n * unit }
        return Int(text).flatMap { $0 > 0 ? $0 : nil }
    }
}
