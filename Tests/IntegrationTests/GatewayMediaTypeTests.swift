import Foundation
import Testing

/// PostgREST parity: media types on /rpc as PostgREST answers them, through the real gateway: Accept
/// negotiation (q-values, `*/*`, 406 PGRST107), the single object (PGRST116, rolled back), stripped
/// nulls, CSV, media type domains and handler aggregates, raw request bodies, the root's Accept rule.
/// Sources: PostgREST's docs/references/api/resource_representation.rst, media_type_handlers.rst,
/// functions.rst; test/spec/Feature/Query/{CustomMediaSpec,QuerySpec,RpcSpec,SingularSpec,
/// NullsStripSpec,RawOutputTypesSpec}.hs; src/library/PostgREST/{MediaType,Plan/Negotiate,MainTx,
/// ApiRequest/Payload,Response}.hs.
@Suite(.serialized)
struct GatewayMediaTypeTests {
    private static let fixtures: Result<Void, any Error> = Result {
        _ = try TestDatabase.connect().execute(#"""
            DROP SCHEMA IF EXISTS test_media CASCADE;
            CREATE SCHEMA test_media;
            GRANT USAGE ON SCHEMA test_media TO web_anon;
            CREATE TABLE test_media.items (id int PRIMARY KEY, name text, note text);
            GRANT SELECT, INSERT ON test_media.items TO web_anon;
            CREATE DOMAIN test_media."text/plain" AS text;
            CREATE DOMAIN test_media."text/html" AS text;
            CREATE DOMAIN test_media."text/xml" AS xml;
            CREATE DOMAIN test_media."application/octet-stream" AS bytea;
            CREATE DOMAIN test_media."*/*" AS bytea;
            CREATE DOMAIN test_media."text/tab-separated-values" AS text;
            CREATE DOMAIN test_media."pg/outfunc" AS text;
            CREATE FUNCTION test_media.get_items(min int DEFAULT 0) RETURNS SETOF test_media.items
              LANGUAGE sql STABLE AS $$ SELECT * FROM test_media.items WHERE id >= min ORDER BY id $$;
            CREATE FUNCTION test_media.get_item(id int) RETURNS test_media.items
              LANGUAGE sql STABLE AS $$ SELECT * FROM test_media.items i WHERE i.id = get_item.id $$;
            CREATE FUNCTION test_media.get_name(id int) RETURNS text
              LANGUAGE sql STABLE AS $$ SELECT name FROM test_media.items i WHERE i.id = get_name.id $$;
            CREATE FUNCTION test_media.add_items(n int) RETURNS SETOF test_media.items
              LANGUAGE sql AS $$ INSERT INTO test_media.items SELECT 100 + g, 'added', NULL FROM generate_series(1, n) g RETURNING * $$;
            CREATE FUNCTION test_media.welcome() RETURNS test_media."text/plain"
              LANGUAGE sql STABLE AS $$ SELECT 'Welcome to PostgREST'::test_media."text/plain" $$;
            CREATE FUNCTION test_media.welcome_twice() RETURNS SETOF test_media."text/plain"
              LANGUAGE sql STABLE AS $$ SELECT 'Welcome' UNION ALL SELECT 'Welcome' $$;
            CREATE FUNCTION test_media."welcome.html"() RETURNS test_media."text/html"
              LANGUAGE sql STABLE AS $$ SELECT '<h1>Welcome</h1>'::test_media."text/html" $$;
            CREATE FUNCTION test_media.ret_xml() RETURNS test_media."text/xml"
              LANGUAGE sql STABLE AS $$ SELECT '<my-xml-tag/>'::test_media."text/xml" $$;
            CREATE FUNCTION test_media.ret_bytes() RETURNS test_media."application/octet-stream"
              LANGUAGE sql STABLE AS $$ SELECT '\x00ff41'::bytea::test_media."application/octet-stream" $$;
            CREATE FUNCTION test_media.ret_null_bytes() RETURNS test_media."application/octet-stream"
              LANGUAGE sql STABLE AS $$ SELECT NULL::test_media."application/octet-stream" $$;
            CREATE FUNCTION test_media.ret_any() RETURNS test_media."*/*"
              LANGUAGE sql STABLE AS $$ SELECT 'any'::bytea::test_media."*/*" $$;
            CREATE FUNCTION test_media.raw_text(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'got ' || $1 $$;
            CREATE FUNCTION test_media.raw_xml(xml) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'got ' || $1::text $$;
            CREATE FUNCTION test_media.raw_bytes(bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT encode($1, 'hex') $$;
            CREATE FUNCTION test_media.overloaded_unnamed_param(json) RETURNS json LANGUAGE sql AS $$ SELECT $1 $$;
            CREATE FUNCTION test_media.overloaded_unnamed_param(bytea) RETURNS test_media."application/octet-stream"
              LANGUAGE sql AS $$ SELECT $1::test_media."application/octet-stream" $$;
            CREATE FUNCTION test_media.overloaded_unnamed_param(text) RETURNS test_media."text/plain"
              LANGUAGE sql AS $$ SELECT $1::test_media."text/plain" $$;
            CREATE FUNCTION test_media.overloaded_unnamed_param() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
            CREATE FUNCTION test_media.overloaded_unnamed_param(x int, y int) RETURNS int LANGUAGE sql AS $$ SELECT x + y $$;
            CREATE FUNCTION test_media.tsv_trans(state text, next test_media.items) RETURNS test_media."text/tab-separated-values"
              LANGUAGE sql AS $$ SELECT (state || next.id || E'\t' || coalesce(next.name, '') || E'\n')::test_media."text/tab-separated-values" $$;
            CREATE AGGREGATE test_media.tsv_agg(test_media.items) (
              initcond = '', stype = test_media."text/tab-separated-values", sfunc = test_media.tsv_trans);
            CREATE FUNCTION test_media.outfunc_trans(state text, next anyelement) RETURNS test_media."pg/outfunc"
              LANGUAGE sql AS $$ SELECT (state || next::text || E'\n')::test_media."pg/outfunc" $$;
            CREATE AGGREGATE test_media.outfunc_agg(anyelement) (
              initcond = '', stype = test_media."pg/outfunc", sfunc = test_media.outfunc_trans);
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA test_media TO web_anon;
            """#)
    }

    private static let shared: Result<GatewayProcess, any Error> = Result {
        try fixtures.get()
        let gateway = try GatewayProcess(settings: ["db-schemas": "\"test_media\""])
        try gateway.waitUntilReady()
        return gateway
    }

    private func resetItems() throws {
        try Self.fixtures.get()
        _ = try TestDatabase.connect().execute("""
            DELETE FROM test_media.items;
            INSERT INTO test_media.items VALUES (1, 'a', NULL), (2, 'b,c', 'x"y'), (3, NULL, 'z')
            """)
    }

    private func json(_ text: String) -> NSObject? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as? NSObject
    }

    private func notAcceptable(_ named: String) -> NSObject? {
        json(#"{"code":"PGRST107","details":null,"hint":null,"message":"None of these media types are available: \#(named)"}"#)
    }

    private func get(_ path: String, accept: String?) throws -> HTTPClient.Response {
        try Self.shared.get().send("GET", path, headers: accept.map { [("Accept", $0)] } ?? [])
    }

    // MARK: negotiation (QuerySpec.hs "content negotiation", RawOutputTypesSpec.hs, Negotiate.hs)

    @Test func acceptIsNegotiatedByQualityAndOrder() throws {
        try resetItems()
        for accept in [nil, "*/*", "application/json", "text/csv;q=0.5, application/json",
                       "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"] {
            let response = try get("/rpc/get_items?min=3", accept: accept)
            #expect(response.status == 200, "\(accept ?? "none")")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8", "\(accept ?? "none")")
            #expect(response.json == json(#"[{"id":3,"name":null,"note":"z"}]"#))
        }
        for accept in ["text/csv, application/json", "text/unknowntype, text/csv", "text/csv, */*", "*/*;q=0.9, text/csv;q=1"] {
            let response = try get("/rpc/get_items?min=3", accept: accept)
            #expect(response.header("Content-Type") == "text/csv; charset=utf-8", "\(accept)")
        }
    }

    @Test func nothingAcceptableIs406NamingEveryItem() throws {
        for (accept, named) in [("text/unknowntype", "text/unknowntype"), ("", ""), ("application/*", "application/*"),
                                ("undefined", "undefined"), ("text/html;q=0.5, foo/bar", "foo/bar, text/html")] {
            let response = try get("/rpc/get_items", accept: accept)
            #expect(response.status == 406, "\(accept)")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(response.json == notAcceptable(named), "\(accept): \(response.text)")
        }
    }

    // MARK: singular (SingularSpec.hs, resource_representation.rst "Singular or Plural")

    @Test func theObjectMediaTypeNeedsExactlyOneRow() throws {
        try resetItems()
        let one = try get("/rpc/get_items?min=3", accept: "application/vnd.pgrst.object+json")
        #expect(one.status == 200)
        #expect(one.header("Content-Type") == "application/vnd.pgrst.object+json; charset=utf-8")
        #expect(one.json == json(#"{"id":3,"name":null,"note":"z"}"#))
        let short = try get("/rpc/get_items?min=3", accept: "application/vnd.pgrst.object")
        #expect(short.json == json(#"{"id":3,"name":null,"note":"z"}"#))
        for (min, rows) in [(9, 0), (2, 2)] {
            let response = try get("/rpc/get_items?min=\(min)", accept: "application/vnd.pgrst.object+json")
            #expect(response.status == 406)
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(response.json == json(#"{"code":"PGRST116","details":"The result contains \#(rows) rows","hint":null,"message":"Cannot coerce the result to a single JSON object"}"#),
                    "\(response.text)")
        }
        // A single composite or scalar is one row; its value is the body.
        let item = try get("/rpc/get_item?id=2", accept: "application/vnd.pgrst.object+json")
        #expect(item.json == json(#"{"id":2,"name":"b,c","note":"x\"y"}"#))
        let name = try get("/rpc/get_name?id=1", accept: "application/vnd.pgrst.object+json")
        #expect(name.text == #""a""#)
    }

    @Test func aFailedObjectCheckRollsTheCallBack() throws {
        try resetItems()
        let gateway = try Self.shared.get()
        let response = try gateway.send("POST", "/rpc/add_items", body: #"{"n":2}"#,
                                        headers: [("Content-Type", "application/json"), ("Accept", "application/vnd.pgrst.object+json")])
        #expect(response.status == 406)
        #expect((response.json as? [String: Any])?["details"] as? String == "The result contains 2 rows")
        let count = try TestDatabase.connect().query("SELECT count(*)::text FROM test_media.items").first?.first ?? nil
        #expect(count == "3")
        let single = try gateway.send("POST", "/rpc/add_items", body: #"{"n":1}"#,
                                      headers: [("Content-Type", "application/json"), ("Accept", "application/vnd.pgrst.object+json")])
        #expect(single.status == 200)
        #expect(single.json == json(#"{"id":101,"name":"added","note":null}"#))
    }

    // MARK: stripped nulls (NullsStripSpec.hs)

    @Test func nullsAreStrippedWhenAsked() throws {
        try resetItems()
        let array = try get("/rpc/get_items", accept: "application/vnd.pgrst.array+json;nulls=stripped")
        #expect(array.header("Content-Type") == "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8")
        #expect(array.json == json(#"[{"id":1,"name":"a"},{"id":2,"name":"b,c","note":"x\"y"},{"id":3,"note":"z"}]"#))
        let object = try get("/rpc/get_item?id=1", accept: "application/vnd.pgrst.object+json;nulls=stripped")
        #expect(object.header("Content-Type") == "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8")
        #expect(object.json == json(#"{"id":1,"name":"a"}"#))
        // Without the parameter the array type is plain JSON.
        let plain = try get("/rpc/get_items?min=3", accept: "application/vnd.pgrst.array+json")
        #expect(plain.header("Content-Type") == "application/json; charset=utf-8")
        #expect(plain.json == json(#"[{"id":3,"name":null,"note":"z"}]"#))
    }

    // MARK: CSV (RpcSpec.hs "returns CSV", QuerySpec.hs "should respond with CSV")

    @Test func csvHasAHeaderAndPostgreSQLsQuoting() throws {
        try resetItems()
        let response = try get("/rpc/get_items", accept: "text/csv")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/csv; charset=utf-8")
        #expect(response.text == "id,name,note\n1,a,\n2,\"b,c\",\"x\"\"y\"\n3,,z")
        #expect(try get("/rpc/get_items?min=9", accept: "text/csv").text == "\n")
        #expect(try get("/rpc/get_name?id=2", accept: "text/csv").text == "pgrst_scalar\n\"b,c\"")
        let head = try Self.shared.get().send("HEAD", "/rpc/get_items", headers: [("Accept", "text/csv")])
        #expect(head.status == 200)
        #expect(head.header("Content-Type") == "text/csv; charset=utf-8")
        #expect(head.body.isEmpty)
    }

    // MARK: media type domains (CustomMediaSpec.hs "Proc that returns scalar", "any media type")

    @Test func aFunctionReturningAMediaTypeDomainAnswersInIt() throws {
        let text = try get("/rpc/welcome", accept: "text/plain")
        #expect(text.status == 200)
        #expect(text.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(text.text == "Welcome to PostgREST")
        // */* and no Accept stay JSON (PostgREST's FIXME in Negotiate.hs).
        #expect(try get("/rpc/welcome", accept: "*/*").text == #""Welcome to PostgREST""#)
        let html = try get("/rpc/welcome.html", accept: "text/html")
        #expect(html.header("Content-Type") == "text/html")
        #expect(html.text == "<h1>Welcome</h1>")
        let xml = try get("/rpc/ret_xml", accept: "text/xml")
        #expect(xml.header("Content-Type") == "text/xml; charset=utf-8")
        #expect(xml.text == "<my-xml-tag/>")
        let bytes = try get("/rpc/ret_bytes", accept: "application/octet-stream")
        #expect(bytes.header("Content-Type") == "application/octet-stream")
        #expect(bytes.body == [0x00, 0xFF, 0x41])
        let none = try get("/rpc/ret_null_bytes", accept: "application/octet-stream")
        #expect(none.status == 200)
        #expect(none.body.isEmpty)
        // Only that type, and only for a single value.
        #expect(try get("/rpc/welcome", accept: "text/xml").json == notAcceptable("text/xml"))
        #expect(try get("/rpc/get_name?id=1", accept: "text/plain").json == notAcceptable("text/plain"))
        #expect(try get("/rpc/welcome_twice", accept: "text/plain").json == notAcceptable("text/plain"))
        // The "any" handler answers every Accept, as application/octet-stream.
        for accept in ["*/*", "app/bingo", "text/bango", "image/boingo"] {
            let any = try get("/rpc/ret_any", accept: accept)
            #expect(any.status == 200, "\(accept)")
            #expect(any.header("Content-Type") == "application/octet-stream")
            #expect(any.text == "any")
        }
    }

    // MARK: handler aggregates (CustomMediaSpec.hs "Proc that returns rows", "using select query parameter")

    @Test func aggregatesOverTheRowsAreHandlers() throws {
        try resetItems()
        let tsv = try get("/rpc/get_items", accept: "text/tab-separated-values")
        #expect(tsv.status == 200)
        #expect(tsv.header("Content-Type") == "text/tab-separated-values")
        #expect(tsv.text == "1\ta\n2\tb,c\n3\t\n")
        let out = try get("/rpc/get_items?min=2", accept: "pg/outfunc")
        #expect(out.header("Content-Type") == "pg/outfunc")
        #expect(out.text == "(2,\"b,c\",\"x\"\"y\")\n(3,,z)\n")
        // A single scalar goes to an anyelement aggregate as the value.
        #expect(try get("/rpc/get_name?id=1", accept: "pg/outfunc").text == "a\n")
        #expect(try get("/rpc/get_items", accept: "application/vnd.twkb").json == notAcceptable("application/vnd.twkb"))
    }

    // MARK: raw request bodies (functions.rst "Functions with a single unnamed parameter", Payload.hs)

    @Test func aSingleUnnamedParameterTakesARawBody() throws {
        let gateway = try Self.shared.get()
        let text = try gateway.send("POST", "/rpc/raw_text", body: "hello, world", headers: [("Content-Type", "text/plain")])
        #expect(text.status == 200)
        #expect(text.text == #""got hello, world""#)
        let xml = try gateway.send("POST", "/rpc/raw_xml", body: "<a>1</a>", headers: [("Content-Type", "text/xml")])
        #expect(xml.text == #""got <a>1</a>""#)
        let bytes = try HTTPClient.send(port: gateway.port, method: "POST", path: "/rpc/raw_bytes", body: [0x00, 0xFF, 0x0A],
                                        headers: [("Content-Type", "application/octet-stream")])
        #expect(bytes.text == #""00ff0a""#)
        let missing = try gateway.send("POST", "/rpc/raw_xml", body: "x", headers: [("Content-Type", "text/plain")])
        #expect(missing.status == 404)
        #expect(missing.json == json(#"{"code":"PGRST202","details":"Searched for the function test_media.raw_xml with a single unnamed text parameter, but no matches were found in the schema cache.","hint":null,"message":"Could not find the function test_media.raw_xml in the schema cache"}"#),
                "\(missing.text)")
        let unknown = try gateway.send("POST", "/rpc/raw_text", body: "x", headers: [("Content-Type", "application/x-unknown")])
        #expect(unknown.status == 400)
        #expect(unknown.json == json(#"{"code":"PGRST102","details":null,"hint":null,"message":"Content-Type not acceptable: application/x-unknown"}"#),
                "\(unknown.text)")
    }

    /// RpcSpec.hs "should be able to resolve when a single unnamed json parameter exists and other
    /// overloaded functions are found", "should call the function with no parameters ... using GET".
    @Test func theBodysTypeChoosesTheUnnamedOverload() throws {
        let gateway = try Self.shared.get()
        let text = try gateway.send("POST", "/rpc/overloaded_unnamed_param", body: "unnamed text arg",
                                    headers: [("Content-Type", "text/plain"), ("Accept", "text/plain")])
        #expect(text.status == 200)
        #expect(text.text == "unnamed text arg")
        let image: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF]
        let bytes = try HTTPClient.send(port: gateway.port, method: "POST", path: "/rpc/overloaded_unnamed_param", body: image,
                                        headers: [("Content-Type", "application/octet-stream"), ("Accept", "application/octet-stream")])
        #expect(bytes.body == image)
        let json = try gateway.send("POST", "/rpc/overloaded_unnamed_param", body: #"{"A": 1, "B": 2}"#,
                                    headers: [("Content-Type", "application/json")])
        #expect(json.json == self.json(#"{"A": 1, "B": 2}"#))
        for contentType in ["text/plain", "application/octet-stream"] {
            #expect(try gateway.send("GET", "/rpc/overloaded_unnamed_param", headers: [("Content-Type", contentType)]).text == "1")
        }
    }

    /// resource_representation.rst "Request Body", Payload.hs `csvToJson` (first record, NULL),
    /// RpcSpec.hs "should fail to fallback to any single unnamed parameter function ... text/csv".
    @Test func aCSVBodyNamesTheArgumentsInItsHeader() throws {
        try resetItems()
        let gateway = try Self.shared.get()
        let csv = try gateway.send("POST", "/rpc/get_items", body: "min\r\n3\r\n", headers: [("Content-Type", "text/csv")])
        #expect(csv.status == 200)
        #expect(csv.json == json(#"[{"id":3,"name":null,"note":"z"}]"#), "\(csv.text)")
        let null = try gateway.send("POST", "/rpc/get_items", body: "min\nNULL", headers: [("Content-Type", "text/csv")])
        #expect(null.json == json("[]"))
        let unknown = try gateway.send("POST", "/rpc/raw_text", body: "a,b\n1,2\n4,6", headers: [("Content-Type", "text/csv")])
        #expect(unknown.status == 404)
        #expect((unknown.json as? [String: Any])?["details"] as? String
                == "Searched for the function test_media.raw_text with parameters a, b, but no matches were found in the schema cache.")
    }

    // MARK: the root (Plan.hs inspectPlan: OpenAPI for application/openapi+json, application/json, */*)

    @Test func theRootAnswersOpenAPIOnlyForThoseTypes() throws {
        for accept in [nil, "*/*", "application/json", "application/openapi+json", "text/csv, application/json"] {
            let response = try get("/", accept: accept)
            #expect(response.status == 200, "\(accept ?? "none")")
            #expect(response.header("Content-Type") == "application/openapi+json; charset=utf-8")
        }
        let refused = try get("/", accept: "text/csv")
        #expect(refused.status == 406)
        #expect(refused.json == notAcceptable("text/csv"))
        // The document lists what each function answers in.
        let document = try get("/", accept: nil)
        let content = ((((document.json as? [String: Any])?["paths"] as? [String: Any])?["/rpc/get_items"] as? [String: Any])?["get"]
            as? [String: Any]).flatMap { (($0["responses"] as? [String: Any])?["200"] as? [String: Any])?["content"] as? [String: Any] }
        let raw = ((((document.json as? [String: Any])?["paths"] as? [String: Any])?["/rpc/raw_bytes"] as? [String: Any])?["post"]
            as? [String: Any]).flatMap { ($0["requestBody"] as? [String: Any])?["content"] as? [String: Any] }
        #expect(raw?.keys.sorted() == ["application/octet-stream"])
        let offered = Set((content ?? [:]).keys)
        #expect(offered.isSuperset(of: [
            "application/json", "application/vnd.pgrst.object+json", "text/csv", "text/tab-separated-values", "pg/outfunc"]))
    }

    // MARK: shaped rows in every media type (PostgREST renders the handler over the shaped query)

    /// CSV's header is the selected columns, a filter and order shape its records, and the single
    /// object counts the filtered rows (QuerySpec.hs "CSV" with select, SingularSpec.hs with filters).
    @Test func mediaTypesRenderTheShapedRows() throws {
        try resetItems()
        let csv = try get("/rpc/get_items?select=name,id&id=gte.2&order=id.desc", accept: "text/csv")
        #expect(csv.status == 200)
        #expect(csv.text == "name,id\n,3\n\"b,c\",2", "\(csv.text)")
        let one = try get("/rpc/get_items?id=eq.2&select=id,name", accept: "application/vnd.pgrst.object+json")
        #expect(one.status == 200)
        #expect(one.json == json(#"{"id":2,"name":"b,c"}"#), "\(one.text)")
        let many = try get("/rpc/get_items?id=lt.3", accept: "application/vnd.pgrst.object+json")
        #expect(many.status == 406)
        #expect(many.json == json(#"{"code":"PGRST116","details":"The result contains 2 rows","hint":null,"message":"Cannot coerce the result to a single JSON object"}"#),
                "\(many.text)")
        let page = try Self.shared.get().send("GET", "/rpc/get_items?select=id&order=id", headers: [("Range", "1-1"), ("Prefer", "count=exact"),
                                                                                                    ("Accept", "text/csv")])
        #expect(page.status == 206)
        #expect(page.header("Content-Range") == "1-1/3")
        #expect(page.text == "id\n2")
    }
}
