import ArgumentParser
import Foundation
import GatewayCore

/// `gateway openapi`: prints the OpenAPI 3.1 document the gateway serves at `/`, for tools and validators.
struct OpenAPICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of the exposed schema (the same one served at /)."
    )

    @Option(name: .customLong("db-uri"), help: "Connection URI (default: $PGRST_DB_URI).")
    var dbURI: String?

    @Option(help: "Exposed schema to describe.")
    var schema: String = "api"

    func validate() throws {
        guard dbURI ?? ProcessInfo.processInfo.environment["PGRST_DB_URI"] != nil else {
            throw ValidationError("no database: pass --db-uri or set PGRST_DB_URI")
        }
    }

    func run() throws {
        let connection = try PGConnection(dbURI ?? ProcessInfo.processInfo.environment["PGRST_DB_URI"]!)
        let catalogQuery = Catalog.query(schemas: [schema])
        let handlersQuery = Catalog.mediaHandlersQuery(schemas: [schema])
        let catalog = try Catalog(rows: connection.query(catalogQuery.sql, catalogQuery.parameters),
                                  mediaHandlerRows: connection.query(handlersQuery.sql, handlersQuery.parameters))
        let columnsQuery = OpenAPIDocument.resultColumnsQuery(schemas: [schema])
        let columns = OpenAPIDocument.resultColumns(rows: try connection.query(columnsQuery.sql, columnsQuery.parameters))
        let document = OpenAPIDocument(catalog: catalog, schema: schema, resultColumns: columns)
        FileHandle.standardOutput.write(Data(document.json))
        print()
    }
}
