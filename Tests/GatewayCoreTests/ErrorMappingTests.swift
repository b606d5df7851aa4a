import Testing
@testable import GatewayCore

@Suite struct ErrorMappingTests {
    /// Every row of PostgREST's SQLSTATE table (postgrest-rpc.md / Error.hs `mapSQLtoHTTP`).
    @Test(arguments: [
        ("08000", 503), ("08006", 503), ("08P01", 503),
        ("09000", 500),
        ("0L000", 403), ("0LP01", 403), ("0P000", 403),
        ("28000", 403), ("28P01", 403),
        ("23503", 409), ("23505", 409),
        ("25006", 405), ("25001", 500), ("25P02", 500),
        ("P0001", 400), ("P0004", 500), ("P0002", 500), ("P0003", 500),
        ("42883", 404), ("42P01", 404),
        ("42P17", 500),
        ("53400", 500), ("53000", 503), ("53100", 503), ("53200", 503), ("53300", 503),
        ("57P01", 503), ("57000", 500), ("57014", 500), ("57P02", 500),
        ("54000", 500), ("54001", 500), ("55000", 500), ("55P03", 500), ("58000", 500), ("58030", 500),
        ("2D000", 500), ("38000", 500), ("38001", 500), ("39000", 500), ("39P01", 500), ("3B000", 500),
        ("40001", 500), ("40P01", 500), ("F0000", 500), ("HV000", 500), ("HV00R", 500), ("XX000", 500), ("XX001", 500),
        ("22P02", 400), ("23502", 400), ("23514", 400), ("22001", 400), ("22003", 400), ("42601", 400),
        ("42703", 400), ("22023", 400), ("0A000", 400), ("21000", 500),
        ("PT402", 402), ("PT404", 404), ("PT503", 503), ("PT201", 201), ("PTabc", 500), ("PT", 500), ("PT99", 500),
    ])
    func sqlStateTable(code: String, status: Int) {
        #expect(SQLStateStatus.status(sqlState: code, message: "x", authenticated: false) == status, "\(code)")
        let response = HTTPResponse(error: PGError(sqlState: code, message: "x"), authenticated: false)
        #expect(response.status == status)
        #expect(response.json?["code"] == .string(code))
    }

    @Test func insufficientPrivilegeDependsOnAuthentication() {
        let error = PGError(sqlState: "42501", message: "permission denied for function secret")
        let anonymous = HTTPResponse(error: error, authenticated: false)
        #expect(anonymous.status == 401)
        #expect(anonymous.header("WWW-Authenticate") == "Bearer")
        let authenticated = HTTPResponse(error: error, authenticated: true)
        #expect(authenticated.status == 403)
        #expect(authenticated.header("WWW-Authenticate") == nil)
    }

    @Test func messageDependentRows() {
        #expect(SQLStateStatus.status(sqlState: "22023", message: "role \"nobody\" does not exist", authenticated: false) == 401)
        #expect(SQLStateStatus.status(sqlState: "22023", message: "invalid value", authenticated: false) == 400)
        #expect(SQLStateStatus.status(sqlState: "21000", message: "DELETE requires a WHERE clause", authenticated: false) == 400)
        #expect(SQLStateStatus.status(sqlState: "42883", message: "function xmlagg(text) does not exist", authenticated: false) == 406)
    }

    @Test func postgresErrorBody() {
        let error = PGError(sqlState: "23505", message: "duplicate key value violates unique constraint \"widgets_serial_number_key\"",
                            detail: "Key (serial_number)=(E) already exists.")
        let response = HTTPResponse(error: error, authenticated: false)
        #expect(response.status == 409)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        #expect(response.json == errorJSON(code: "23505",
                                           message: "duplicate key value violates unique constraint \"widgets_serial_number_key\"",
                                           details: "Key (serial_number)=(E) already exists."))
        #expect(response.bodyText == #"{"code":"23505","details":"Key (serial_number)=(E) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"widgets_serial_number_key\""}"#)
    }

    @Test func ptCodesUseTheirStatus() {
        let error = PGError(sqlState: "PT402", message: "Payment Required", detail: "Quota exceeded", hint: "Upgrade")
        let response = HTTPResponse(error: error, authenticated: false)
        #expect(response.status == 402)
        #expect(response.json == errorJSON(code: "PT402", message: "Payment Required", details: "Quota exceeded", hint: "Upgrade"))
    }

    @Test func connectionErrorsCarryRetryAfter() {
        let response = HTTPResponse(error: PGError(sqlState: "08006", message: "server closed the connection"), authenticated: false)
        #expect(response.status == 503)
        #expect(response.header("Retry-After") != nil)
    }

    @Test func raisePGRSTGivesFullControl() {
        let error = PGError(sqlState: "PGRST",
                            message: #"{"code":"123","message":"ABC","details":"DEF","hint":"GHI"}"#,
                            detail: #"{"status":332,"status_text":"My Status","headers":{"X-Header":"Value","Cache-Control":"no-store"}}"#)
        let response = HTTPResponse(error: error, authenticated: false)
        #expect(response.status == 332)
        #expect(response.json == errorJSON(code: "123", message: "ABC", details: "DEF", hint: "GHI"))
        #expect(response.header("X-Header") == "Value")
        #expect(response.header("Cache-Control") == "no-store")
        let minimal = HTTPResponse(error: PGError(sqlState: "PGRST", message: #"{"code":"A","message":"B"}"#,
                                                  detail: #"{"status":418,"headers":{}}"#), authenticated: false)
        #expect(minimal.status == 418)
        #expect(minimal.json == errorJSON(code: "A", message: "B"))
    }

    @Test func raisePGRSTParseErrors() {
        let badMessage = HTTPResponse(error: PGError(sqlState: "PGRST", message: "not json", detail: "{}"), authenticated: false)
        #expect(badMessage.status == 500)
        #expect(badMessage.json == errorJSON(
            code: "PGRST121", message: "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            details: "Invalid JSON value for MESSAGE: 'not json'",
            hint: "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'."))
        let noDetail = HTTPResponse(error: PGError(sqlState: "PGRST", message: #"{"code":"1","message":"m"}"#), authenticated: false)
        #expect(noDetail.json?["details"] == .string("DETAIL is missing in the RAISE statement"))
        let badDetail = HTTPResponse(error: PGError(sqlState: "PGRST", message: #"{"code":"1","message":"m"}"#,
                                                    detail: #"{"status":"x","headers":{}}"#), authenticated: false)
        #expect(badDetail.json?["details"] == .string(#"Invalid JSON value for DETAIL: '{"status":"x","headers":{}}'"#))
        #expect(badDetail.json?["hint"] == .string("DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."))
        let splitting = HTTPResponse(error: PGError(sqlState: "PGRST", message: #"{"code":"1","message":"m"}"#,
                                                    detail: #"{"status":400,"headers":{"X":"a\r\nSet-Cookie: x"}}"#), authenticated: false)
        #expect(splitting.status == 500)
    }

    @Test func apiErrors() {
        func check(_ error: APIError, _ status: Int, _ expected: JSONValue, file: StaticString = #filePath) {
            let response = HTTPResponse(error: error, authenticated: false)
            #expect(response.status == status)
            #expect(response.json == expected)
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
        }
        check(.notFound(path: "/x"), 404, errorJSON(code: "PGRST125", message: "Invalid path specified in request URL"))
        check(.methodNotAllowed(method: "DELETE"), 405, errorJSON(code: "PGRST101", message: "Cannot use the DELETE method on RPC"))
        check(.invalidBody(message: "Empty or invalid json"), 400, errorJSON(code: "PGRST102", message: "Empty or invalid json"))
        check(.poolTimeout(seconds: 10), 504, errorJSON(code: "PGRST003", message: "Timed out acquiring connection from connection pool."))
        check(.databaseUnavailable(message: "connection refused"), 503,
              errorJSON(code: "PGRST000", message: "Database connection error.", details: "connection refused"))
        check(.functionNotFound(message: "m", hint: "h"), 404, errorJSON(code: "PGRST202", message: "m", hint: "h"))
        check(.ambiguousFunction(message: "m", hint: nil), 300, errorJSON(code: "PGRST203", message: "m"))
        check(.notAcceptable(accept: "text/csv"), 406, errorJSON(code: "PGRST107", message: "None of these media types are available: text/csv"))
        check(.anonymousAccessDisabled, 401, errorJSON(code: "PGRST302", message: "Anonymous access is disabled"))
        check(.invalidResponseStatus, 500, errorJSON(code: "PGRST112", message: "response.status guc must be a valid status code"))
        check(.invalidResponseHeaders, 500, errorJSON(code: "PGRST111",
              message: "response.headers guc must be a JSON array composed of objects with a single key and a string value"))
        check(.notImplemented(details: "d"), 400, errorJSON(code: "PGRST127", message: "Feature not implemented", details: "d"))
        #expect(HTTPResponse(error: APIError.bodyTooLarge(limit: 10), authenticated: false).status == 413)
        #expect(HTTPResponse(error: APIError.databaseUnavailable(message: ""), authenticated: false).header("Retry-After") == "1")
        #expect(HTTPResponse(error: APIError.shuttingDown, authenticated: false).status == 503)
    }

    @Test func otherErrorsAre500() {
        struct Boom: Error {}
        let response = HTTPResponse(error: Boom(), authenticated: false)
        #expect(response.status == 500)
        #expect(response.json?["code"] == .string("PGRSTX00"))
    }

    @Test func errorBodiesEscapeJSON() {
        let response = HTTPResponse(error: PGError(sqlState: "P0001", message: "bad \"input\"\n\\ \u{01}", hint: "tab\there"),
                                    authenticated: false)
        #expect(response.status == 400)
        #expect(response.json == errorJSON(code: "P0001", message: "bad \"input\"\n\\ \u{01}", hint: "tab\there"))
    }
}

/// `Proxy-Status` names the error's code (PostgREST's Error.hs, `errorResponseFor`).
@Suite struct ProxyStatusTests {
    func proxyStatus(_ response: HTTPResponse) -> String? { response.headers.first { $0.0 == "Proxy-Status" }?.1 }

    @Test func namesPGRSTCodesSQLStatesAndCustomCodes() {
        #expect(proxyStatus(HTTPResponse(error: APIError.notFound(path: "/x"), authenticated: false)) == "PostgREST; error=PGRST125")
        #expect(proxyStatus(HTTPResponse(error: PGError(sqlState: "57014", message: "canceling statement"), authenticated: false))
                == "PostgREST; error=57014")
        let custom = HTTPResponse(error: PGError(sqlState: "PGRST", message: #"{"code":"123","message":"ABC"}"#,
                                                 detail: #"{"status":332,"headers":{}}"#), authenticated: false)
        #expect(proxyStatus(custom) == "PostgREST; error=123")
    }

    @Test func aCodeWithALineBreakGetsNoHeader() {
        let response = HTTPResponse(error: PGError(sqlState: "PGRST", message: #"{"code":"1\r\nX: y","message":"m"}"#,
                                                   detail: #"{"status":400,"headers":{}}"#), authenticated: false)
        #expect(response.status == 400)
        #expect(proxyStatus(response) == nil)
    }
}
