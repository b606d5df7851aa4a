import ArgumentParser
import Foundation
import GatewayCore

/// `gateway [serve] [CONFIG_FILE]`: serve the exposed schema's functions, like `postgrest CONFIG_FILE`.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the exposed schema's functions as /rpc/<fn> (the default subcommand).",
        discussion: GatewayConfig.helpText
    )

    @Argument(help: "PostgREST-format config file; PGRST_* environment variables override its keys.")
    var configFile: String?

    func run() throws {
        let config: GatewayConfig
        do {
            config = try GatewayConfig.load(file: configFile, environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("gateway: invalid configuration: \(error)\n".utf8))
            throw ExitCode(1)
        }
        do {
            try GatewayService(config: config, configFile: configFile).run()
        } catch {
            FileHandle.standardError.write(Data("gateway: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
