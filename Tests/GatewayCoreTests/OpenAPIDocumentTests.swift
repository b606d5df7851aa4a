import Foundation
import Testing
@testable import GatewayCore

/// The OpenAPI 3.1 document generated from the schema cache.
@Suite struct OpenAPIDocumentTests {
    let catalog = Catalog(routines: [
        Routine(schema: "api", name: "add_widget",
                parameters: [RoutineParameter(name: "widget_sn", type: "text"), RoutineParameter(name: "widget_name", type: "text"),
                             RoutineParameter(name: "slots", type: "widgets.port_type[]", hasDefault: true)],
                returnShape: .void, returnsSet: false, returnType: "void", volatility: .volatile, comment: "Adds a widget.\nMore."),
        Routine(schema: "api", name: "get_widget", parameters: [RoutineParameter(name: "widget_sn", type: "text")],
                returnShape: .scalar, returnsSet: false, returnType: "json", volatility: .stable),
        Routine(schema: "api", name: "list_my_vms", parameters: [],
                returnShape: .composite, returnsSet: true, returnType: "record", volatility: .stable),
        Routine(schema: "other", name: "hidden", parameters: [], returnShape: .void, returnsSet: false, returnType: "void", volatility: .volatile),
    ])

    func document() throws -> [String: Any] {
        let doc = OpenAPIDocument(catalog: catalog, schema: "api",
                                  resultColumns: ["api.list_my_vms()": [("vm_id", "bigint"), ("ip", "inet")]])
        return try JSONSerialization.jsonObject(with: Data(doc.json)) as! [String: Any]
    }

    @Test func listsEveryFunctionOfTheSchemaOnly() throws {
        let doc = try document()
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = doc["paths"] as! [String: Any]
        #expect(Set(paths.keys) == ["/rpc/add_widget", "/rpc/get_widget", "/rpc/list_my_vms"])
    }

    @Test func writersArePostOnlyWithRequiredArgumentsAndTheirComment() throws {
        let item = try document()["paths"].flatMap { ($0 as! [String: Any])["/rpc/add_widget"] } as! [String: Any]
        #expect(item["get"] == nil)
        let post = item["post"] as! [String: Any]
        #expect(post["description"] as? String == "Adds a widget.\nMore.")
        #expect(post["summary"] as? String == "Adds a widget.")
        let schema = ((post["requestBody"] as! [String: Any])["content"] as! [String: Any])["application/json"] as! [String: Any]
        let body = schema["schema"] as! [String: Any]
        #expect(body["required"] as? [String] == ["widget_sn", "widget_name"])
        let slots = (body["properties"] as! [String: Any])["slots"] as! [String: Any]
        #expect(slots["type"] as? String == "array")
        #expect((post["responses"] as! [String: Any])["204"] != nil)
    }

    @Test func stableFunctionsAlsoGetAndDescribeTheirResult() throws {
        let paths = try document()["paths"] as! [String: Any]
        let get = (paths["/rpc/get_widget"] as! [String: Any])["get"] as! [String: Any]
        let parameter = (get["parameters"] as! [[String: Any]])[0]
        #expect(parameter["name"] as? String == "widget_sn")
        #expect(parameter["in"] as? String == "query")
        #expect(parameter["required"] as? Bool == true)
        let list = (paths["/rpc/list_my_vms"] as! [String: Any])["get"] as! [String: Any]
        let ok = (list["responses"] as! [String: Any])["200"] as! [String: Any]
        let schema = ((ok["content"] as! [String: Any])["application/json"] as! [String: Any])["schema"] as! [String: Any]
        #expect(schema["type"] as? String == "array")
        let properties = (schema["items"] as! [String: Any])["properties"] as! [String: Any]
        #expect(Set(properties.keys) == ["vm_id", "ip"])
    }

    /// Shaping in the document: a set's GET documents select/order/limit/offset and Range/Range-Unit (POST the query
    /// ones), Prefer count, and the 206 answer with Content-Range (PostgREST's pagination_count.rst).
    @Test func setsDocumentShapingAndPartialContent() throws {
        let doc = try document()
        let paths = doc["paths"] as! [String: Any]
        let item = paths["/rpc/list_my_vms"] as! [String: Any]
        func references(_ operation: String) -> [String] {
            ((item[operation] as! [String: Any])["parameters"] as! [[String: Any]]).compactMap { $0["$ref"] as? String }
        }
        #expect(references("get") == ["Prefer", "select", "order", "limit", "offset", "and", "or", "Range", "Range-Unit"].map { "#/components/parameters/" + $0 })
        #expect(references("post") == ["Prefer", "select", "order", "limit", "offset", "and", "or"].map { "#/components/parameters/" + $0 })
        let responses = (item["get"] as! [String: Any])["responses"] as! [String: Any]
        let partial = responses["206"] as! [String: Any]
        #expect((partial["headers"] as! [String: Any])["Content-Range"] != nil)
        let components = doc["components"] as! [String: Any]
        #expect((components["headers"] as! [String: Any])["Content-Range"] != nil)
        #expect(((components["parameters"] as! [String: Any])["Prefer"] as! [String: Any])["description"].map { "\($0)".contains("count=exact") } == true)
        // A single result takes none of them.
        let single = (paths["/rpc/get_widget"] as! [String: Any])["get"] as! [String: Any]
        #expect((single["responses"] as! [String: Any])["206"] == nil)
        #expect((single["parameters"] as! [[String: Any]]).count == 2)
    }

    /// The media types content negotiation offers (`Negotiation`): JSON, the vendor forms (a set's
    /// object is one element), CSV, and a user-defined handler's type; a raw body's type for a single
    /// unnamed bytea parameter.
    @Test func responsesListTheMediaTypesOnOffer() throws {
        let png = CustomMediaHandler(schema: "api", name: "png_agg", kind: .aggregate(target: .anyElement), isBinary: true)
        let handlers = MediaHandlerMap(custom: [.init(target: .anyElement, mediaType: .other("image/png")): (.custom(png), .other("image/png"))])
        let upload = Routine(schema: "api", name: "upload", parameters: [RoutineParameter(name: "", type: "bytea")],
                             returnShape: .scalar, returnsSet: false, returnType: "integer", volatility: .volatile)
        let doc = OpenAPIDocument(catalog: Catalog(routines: catalog.routines + [upload], mediaHandlers: handlers), schema: "api",
                                  resultColumns: ["api.list_my_vms()": [("vm_id", "bigint")]])
        let paths = (try JSONSerialization.jsonObject(with: Data(doc.json)) as! [String: Any])["paths"] as! [String: Any]
        let list = (paths["/rpc/list_my_vms"] as! [String: Any])["get"] as! [String: Any]
        let content = (((list["responses"] as! [String: Any])["200"] as! [String: Any])["content"] as! [String: Any])
        #expect(Set(content.keys).isSuperset(of: ["application/json", "application/vnd.pgrst.object+json", "text/csv", "image/png",
                                                  "application/vnd.pgrst.array+json;nulls=stripped"]))
        let object = (content["application/vnd.pgrst.object+json"] as! [String: Any])["schema"] as! [String: Any]
        #expect(object["type"] as? [String] == ["object", "null"])
        #expect((object["properties"] as? [String: Any])?.keys.sorted() == ["vm_id"])
        #expect(((content["image/png"] as! [String: Any])["schema"] as! [String: Any])["format"] as? String == "binary")
        let post = (paths["/rpc/upload"] as! [String: Any])["post"] as! [String: Any]
        let body = (post["requestBody"] as! [String: Any])["content"] as! [String: Any]
        #expect(Array(body.keys) == ["application/octet-stream"])
    }

    /// A filter per result column on GET and POST (PostgREST's rowFilter), except where an argument
    /// has the name (on GET it is the argument).
    @Test func setsDocumentAFilterPerResultColumn() throws {
        let rows = Routine(schema: "api", name: "rows", parameters: [RoutineParameter(name: "id", type: "integer")],
                           returnShape: .composite, returnsSet: true, returnType: "api.r", volatility: .stable,
                           columns: [ResultColumn(name: "id", type: "integer"), ResultColumn(name: "label", type: "text")])
        let doc = OpenAPIDocument(catalog: Catalog(routines: [rows]), schema: "api", resultColumns: [:])
        let paths = (try JSONSerialization.jsonObject(with: Data(doc.json)) as! [String: Any])["paths"] as! [String: Any]
        for method in ["get", "post"] {
            let parameters = ((paths["/rpc/rows"] as! [String: Any])[method] as! [String: Any])["parameters"] as! [[String: Any]]
            let filters = parameters.filter { ($0["description"] as? String)?.hasPrefix("Filter on the result column") == true }
            #expect(filters.compactMap { $0["name"] as? String } == ["label"], "\(method)")
        }
    }
}
