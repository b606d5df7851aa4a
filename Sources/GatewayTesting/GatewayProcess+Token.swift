import Foundation

extension GatewayProcess {
    /// A token minted by the gateway binary itself (`gateway token`, HS256, one hour), signed with
    /// `secret`: the `role` claim, `sub` when given, and at most one agent claim (`host`, `node` or
    /// `mailer`) naming the agent it acts for. Tests outside GatewayCore sign their tokens this way, as
    /// an operator would.
    public static func token(role: String, sub: String? = nil, agent: (claim: String, name: String)? = nil,
                             secret: String) throws -> String {
        let minter = Process()
        minter.executableURL = URL(fileURLWithPath: try binary())
        minter.arguments = ["token", "--role", role] + (sub.map { ["--sub", $0] } ?? [])
            + (agent.map { ["--\($0.claim)", $0.name] } ?? [])
        minter.environment = ProcessInfo.processInfo.environment.merging(["PGRST_JWT_SECRET": secret]) { $1 }
        let output = Pipe(), errors = Pipe()
        minter.standardOutput = output
        minter.standardError = errors
        try minter.run()
        let token = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        minter.waitUntilExit()
        guard minter.terminationStatus == 0, !token.isEmpty else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw HTTPClient.Failure(message: "gateway token failed (\(minter.terminationStatus)): \(message)")
        }
        return token
    }
}
