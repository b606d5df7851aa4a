import Testing
@testable import GatewayCore

/// PostgREST's media types (src/library/PostgREST/MediaType.hs and its doctests), the Accept order
/// (wai-extra's parseHttpAccept) and content negotiation (Plan/Negotiate.hs), without a database.
struct MediaTypeTests {
    @Test(arguments: [
        ("application/json", MediaType.json), ("ApplicatIon/vnd.PgRsT.object+json", .object(stripNulls: false)),
        ("application/vnd.pgrst.object+json;nulls=stripped", .object(stripNulls: true)),
        ("application/vnd.pgrst.object; nulls=stripped", .object(stripNulls: true)),
        ("application/vnd.pgrst.array+json;nulls=stripped", .arrayStripped), ("application/vnd.pgrst.array+json", .json),
        ("text/csv; version=1", .csv), ("text/plain", .textPlain), ("text/xml", .textXML), ("*/*", .any),
        ("application/octet-stream", .octetStream), ("application/x-www-form-urlencoded; charset=utf-8", .urlEncoded),
        ("application/json; $$ unrecognized-chars=ignored $$", .json),
        ("application/vnd.twkb", .other("application/vnd.twkb")), ("undefined", .other("undefined")),
        ("application/*", .other("application/*")),
    ])
    func decodes(text: String, type: MediaType) {
        #expect(MediaType(text) == type)
    }

    @Test func namesAndContentTypes() {
        #expect(MediaType.object(stripNulls: true).contentType == "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8")
        #expect(MediaType.arrayStripped.contentType == "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8")
        #expect(MediaType.csv.contentType == "text/csv; charset=utf-8")
        #expect(MediaType.octetStream.contentType == "application/octet-stream")
        #expect(MediaType.other("text/html").contentType == "text/html")
        #expect(MediaType("application/vnd.pgrst.plan+json;for=\"text/csv\"; options=analyze|wal").mime
                == "application/vnd.pgrst.plan+json; for=\"text/csv\"; options=analyze|wal")
    }

    @Test func acceptIsOrderedByQualityThenSpecificity() {
        #expect(AcceptHeader.mediaTypes(nil) == [.any])
        #expect(AcceptHeader.mediaTypes("") == [])
        #expect(AcceptHeader.mediaTypes("text/csv;q=0.5, application/json") == [.json, .csv])
        #expect(AcceptHeader.mediaTypes("*/*, text/csv") == [.csv, .any])
        #expect(AcceptHeader.mediaTypes("text/html,application/xhtml+xml,application/xml;q=0.9,image/png,*/*;q=0.8")
                == [.other("text/html"), .other("application/xhtml+xml"), .other("image/png"), .other("application/xml"), .any])
        // q=0 only sorts last; an unreadable q counts as 1.
        #expect(AcceptHeader.mediaTypes("text/csv;q=0, application/json;q=x") == [.json, .csv])
        #expect(AcceptHeader.quality("0.5") == 0.5)
        #expect(AcceptHeader.quality(".5") == nil)
        #expect(AcceptHeader.quality("1.") == 1)
    }

    let routine = Routine(schema: "s", name: "f", parameters: [], returnShape: .composite, returnsSet: true,
                          returnType: "s.lines", volatility: .stable, resultTypeName: "lines")

    @Test func negotiatesTheFirstAcceptableItem() throws {
        let handlers = MediaHandlerMap()
        #expect(try Negotiation.call(accepts: [.other("text/html"), .csv], routine: routine, handlers: handlers)
                == Negotiation(handler: .csv, mediaType: .csv))
        #expect(try Negotiation.call(accepts: [.any], routine: routine, handlers: handlers) == .json)
        #expect(try Negotiation.call(accepts: [.object(stripNulls: true)], routine: routine, handlers: handlers)
                == Negotiation(handler: .object(stripNulls: true), mediaType: .object(stripNulls: true)))
        #expect(throws: APIError.notAcceptable(accept: "text/plain, application/vnd.pgrst.plan+text; for=\"application/json\"")) {
            try Negotiation.call(accepts: [.textPlain, MediaType("application/vnd.pgrst.plan")], routine: routine,
                                 handlers: handlers)
        }
    }

    @Test func userDefinedHandlersOverrideAndTheAnyHandlerTakesEverything() throws {
        let tsv = CustomMediaHandler(schema: "s", name: "tsv_agg", kind: .aggregate(target: .relation(schema: "s", name: "lines")),
                                     isBinary: false)
        let any = CustomMediaHandler(schema: "s", name: "*/*", kind: .domain, isBinary: true)
        let handlers = MediaHandlerMap(custom: [
            .init(target: .relation(schema: "s", name: "lines"), mediaType: .other("text/tab-separated-values")):
                (.custom(tsv), .other("text/tab-separated-values")),
            .init(target: .relation(schema: "s", name: "g"), mediaType: .any): (.custom(any), .octetStream),
        ])
        #expect(try Negotiation.call(accepts: [.other("text/tab-separated-values")], routine: routine, handlers: handlers).handler == .custom(tsv))
        // Only with every column selected.
        #expect(throws: APIError.self) {
            try Negotiation.call(accepts: [.other("text/tab-separated-values")], routine: routine, handlers: handlers,
                                 defaultSelect: false)
        }
        var g = routine
        g.name = "g"
        g.resultTypeName = nil
        #expect(try Negotiation.call(accepts: [.other("app/bingo")], routine: g, handlers: handlers)
                == Negotiation(handler: .custom(any), mediaType: .octetStream))
        #expect(try Negotiation.call(accepts: [.object(stripNulls: false)], routine: g, handlers: handlers).handler
                == .object(stripNulls: false))
    }

    /// Rows of `Catalog.mediaHandlersQuery`: aggregates keyed by their argument's relation (or any rows),
    /// a function's own domain by the function; `*/*` answered as application/octet-stream.
    @Test func handlerRowsBuildTheMap() throws {
        let map = try Catalog.mediaHandlers(rows: [
            ["s", "tsv_agg", "s", "lines", "text/tab-separated-values", "text/tab-separated-values", "t", "f"],
            ["s", "png_agg", "pg_catalog", "anyelement", "image/png", "image/png", "t", "t"],
            ["s", "*/*", "s", "ret_any", "*/*", "application/octet-stream", "f", "t"],
            ["s", "csv_agg", "pg_catalog", "anyelement", "text/csv", "text/csv", "t", "f"],
        ])
        #expect(map[.relation(schema: "s", name: "lines"), .other("text/tab-separated-values")]?.1
                == .other("text/tab-separated-values"))
        #expect(map[.anyElement, .other("image/png")]?.0
                == .custom(CustomMediaHandler(schema: "s", name: "png_agg", kind: .aggregate(target: .anyElement), isBinary: true)))
        #expect(map[.relation(schema: "s", name: "ret_any"), .any]?.1 == .octetStream)
        // A user-defined handler overrides the built-in one; the others stay.
        #expect(map[.anyElement, .csv]?.0 != .csv)
        #expect(map[.anyElement, .json]?.0 == .json)
        #expect(throws: CatalogError.self) { try Catalog.mediaHandlers(rows: [["s", "x"]]) }
    }

    @Test func theRootOffersOpenAPIForJSONAndAnything() throws {
        try Negotiation.openAPI(accepts: [.csv, .json])
        try Negotiation.openAPI(accepts: [.any])
        #expect(throws: APIError.notAcceptable(accept: "text/csv")) { try Negotiation.openAPI(accepts: [.csv]) }
    }

    @Test func bodyExpressions() {
        #expect(CallSQL.body(for: routine, handler: .arrayStripped) == "coalesce(json_strip_nulls(json_agg(pgrst_rows)), '[]')::text")
        #expect(CallSQL.body(for: routine, handler: .object(stripNulls: false)) == "coalesce((json_agg(pgrst_rows) -> 0)::text, 'null')")
        let scalar = Routine(schema: "s", name: "f", parameters: [], returnShape: .scalar, returnsSet: false, returnType: "text",
                             volatility: .stable)
        #expect(CallSQL.body(for: scalar, handler: .object(stripNulls: true))
                == "coalesce((json_strip_nulls(json_agg(pgrst_rows.pgrst_scalar) -> 0))::text, 'null')")
        let bytes = CustomMediaHandler(schema: "s", name: "image/png", kind: .domain, isBinary: true)
        #expect(CallSQL.body(for: scalar, handler: .custom(bytes)) == "string_agg(encode((pgrst_rows.pgrst_scalar)::bytea, 'hex'), '')")
        let tsv = CustomMediaHandler(schema: "s", name: "tsv_agg", kind: .aggregate(target: .relation(schema: "s", name: "lines")),
                                     isBinary: false)
        #expect(CallSQL.body(for: routine, handler: .custom(tsv)) == "(\"s\".\"tsv_agg\"(pgrst_rows::\"s\".\"lines\"))::text")
    }

    @Test func csvRecords() {
        #expect(CSVText.records(Array("a,b\r\n1,\"x,\"\"y\"\"\"\n,\n".utf8)) == [["a", "b"], ["1", "x,\"y\""], ["", ""]])
        #expect(CSVText.records(Array("a\n\"open".utf8)) == nil)
        #expect(CSVText.records(Array("a\n\"x\"y".utf8)) == nil)
    }

    @Test func rawBodiesAndHex() throws {
        #expect(try RequestArguments(raw: [0, 0xFF, 0x41], binary: true).wholeBody == "\\x00ff41")
        #expect(throws: PGError.self) { try RequestArguments(raw: [0x61, 0], binary: false) }
        #expect(HTTPResponse.hexBytes("00ff41") == [0, 0xFF, 0x41])
        #expect(HTTPResponse.hexBytes("0g") == nil)
    }
}
