import Testing
@testable import GatewayCore

@Suite struct JSONTests {
    func members(_ text: String) throws -> [(String, JSONScanner.Kind, String)] {
        let bytes = Array(text.utf8)
        let root = try JSONScanner.document(bytes)
        let scanner = JSONScanner(bytes)
        return try scanner.members(of: root).map { ($0.key, $0.value.kind, scanner.text($0.value)) }
    }

    @Test func splitsTopLevelObjectKeepingRawText() throws {
        let result = try members(#"{"a": 1.50, "b":"x\"y\u00e9\n", "c": {"d": [1, 2e3]}, "e": null, "f": true, "g": [ ]}"#)
        #expect(result.map(\.0) == ["a", "b", "c", "e", "f", "g"])
        #expect(result.map(\.1) == [.number, .string, .object, .null, .bool, .array])
        #expect(result[0].2 == "1.50")
        #expect(result[1].2 == "x\"yé\n")
        #expect(result[2].2 == #"{"d": [1, 2e3]}"#)
        #expect(result[4].2 == "true")
        #expect(result[5].2 == "[ ]")
    }

    @Test func keepsBigNumbersExactly() throws {
        let result = try members(#"{"n": 123456789012345678901234567890.000000000000000000001}"#)
        #expect(result[0].2 == "123456789012345678901234567890.000000000000000000001")
    }

    @Test func repeatedKeyKeepsLastValue() throws {
        let result = try members(#"{"a": 1, "a": 2}"#)
        #expect(result.count == 1)
        #expect(result[0].2 == "2")
    }

    @Test func decodesSurrogatePairs() throws {
        let result = try members(#"{"s": "\ud83d\ude00 \/ \t"}"#)
        #expect(result[0].2 == "😀 / \t")
    }

    @Test(arguments: [
        "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "{'a':1}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":-}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"\u{01}\"}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":1} x", "{\"a\":\"unterminated}", "sdfsdf", "{a:1}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ])
    func rejectsInvalidJSON(text: String) {
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner.document(Array(text.utf8)) }
    }

    @Test func rejectsExcessiveNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner.document(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: Never.self) { try JSONScanner.document(Array(fine.utf8)) }
    }

    @Test(arguments: ["{}", "[]", "0", "-0.5e+10", "\"x\"", "null", " {\"a\" : [ 1 , { } ] } ", "true"])
    func acceptsValidJSON(text: String) throws {
        _ = try JSONScanner.document(Array(text.utf8))
    }

    @Test func escapesStrings() {
        #expect(JSONText.quoted("plain") == "\"plain\"")
        #expect(JSONText.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONText.quoted("line\nbreak\r\ttab") == #""line\nbreak\r\ttab""#)
        #expect(JSONText.quoted("\u{01}\u{1F}\u{08}\u{0C}") == #""\u0001\u001f\b\f""#)
        #expect(JSONText.quoted("é😀/") == "\"é😀/\"")
    }

    @Test func escapedStringsRoundTrip() throws {
        for text in ["a\"b", "\\", "\u{00}\u{1F}x", "é😀", "\n\r\t"] {
            let value = try #require(JSONValue(parsing: JSONText.quoted(text)))
            #expect(value == .string(text))
        }
    }

    @Test func buildsObjects() {
        #expect(JSONText.object([]) == "{}")
        #expect(JSONText.object([("a", "1"), ("b\"", nil)]) == #"{"a":"1","b\"":null}"#)
    }

    @Test func decodesValueTrees() throws {
        let value = try #require(JSONValue(parsing: #"{"a":[1,"x",null,true,{"b":false}],"c":2.0}"#))
        #expect(value["c"] == .number("2.0"))
        #expect(value["a"] == .array([.number("1"), .string("x"), .null, .bool(true), .object([("b", .bool(false))])]))
        #expect(value.jsonText == #"{"a":[1,"x",null,true,{"b":false}],"c":2.0}"#)
        #expect(JSONValue(parsing: "{") == nil)
        #expect(JSONValue(parsing: "[1]")?["a"] == nil)
        #expect(JSONValue(parsing: "42")?.intValue == 42)
    }

    @Test func queryStringDecoding() {
        let pairs = QueryString.pairs("a=1&b=hello+world&c=%7Ba%2Cb%7D&a=2&flag&e=%E2%82%AC&bad=%zz&&=x")
        #expect(pairs.map(\.key) == ["a", "b", "c", "a", "flag", "e", "bad", ""])
        #expect(pairs.map(\.value) == ["1", "hello world", "{a,b}", "2", "", "€", "%zz", "x"])
        #expect(QueryString.pairs("").isEmpty)
        #expect(QueryString.decodePathSegment("my%20fn+x") == "my fn+x")
        #expect(QueryString.decode("%"[...].utf8) == "%")
        #expect(QueryString.decode("%4"[...].utf8) == "%4")
    }

    @Test func arrayLiterals() throws {
        #expect(ArrayLiteral.text([]) == "{}")
        #expect(ArrayLiteral.text(["a", nil, "b\"c", "d\\e", "{x,y}", "NULL"]) == #"{"a",NULL,"b\"c","d\\e","{x,y}","NULL"}"#)
        let bytes = Array(#"[1, "two", null, [3, "f\"o"], {"k": "v"}, true]"#.utf8)
        let root = try JSONScanner.document(bytes)
        #expect(try ArrayLiteral.fromJSON(JSONScanner(bytes), root) == #"{"1","two",NULL,{"3","f\"o"},"{\"k\": \"v\"}","true"}"#)
    }
}
