import ArgumentParser
import GatewayCore

/// `gateway`: serves the exposed schema's functions as /rpc/<fn>, and manages the schema it serves.
@main
struct Gateway: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "PostgreSQL functions as /rpc/<fn> over HTTP, PostgREST-compatible.",
        discussion: GatewayConfig.helpText,
        subcommands: [Serve.self, Migrate.self, Token.self, OpenAPICommand.self],
        defaultSubcommand: Serve.self
    )
}
