/// `RAISE SQLSTATE 'PGRST' USING MESSAGE = '{"code":..,"message":..,"details":..,"hint":..}',
/// DETAIL = '{"status":..,"status_text":..,"headers":{..}}'`: the function decides the whole error
/// response. Unparseable payloads give PostgREST's PGRST121 (500).
enum RaisePGRST {
    static func response(message: String, detail: String?) -> HTTPResponse {
        guard let body = JSONValue(parsing: message), let code = body["code"]?.stringValue,
              let text = body["message"]?.stringValue else {
            return parseError(details: "Invalid JSON value for MESSAGE: '\(message)'",
                              hint: "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.")
        }
        let detailHint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'."
        guard let detail else {
            return parseError(details: "DETAIL is missing in the RAISE statement", hint: detailHint)
        }
        guard let control = JSONValue(parsing: detail), let status = control["status"]?.intValue,
              (100...599).contains(status), case .object(let headerMembers)? = control["headers"] else {
            return parseError(details: "Invalid JSON value for DETAIL: '\(detail)'", hint: detailHint)
        }
        var headers: [(String, String)] = []
        for (name, value) in headerMembers {
            guard let value = value.stringValue, HTTPResponse.isValidHeader(name: name, value: value) else {
                return parseError(details: "Invalid JSON value for DETAIL: '\(detail)'", hint: detailHint)
            }
            headers.append((name, value))
        }
        return HTTPResponse.errorBody(status: status, code: code, message: text,
                                      details: optionalText(body["details"]), hint: optionalText(body["hint"]),
                                      headers: headers)
    }

    /// A string member as is; another JSON value as its JSON text; absent or null as nil.
    private static func optionalText(_ value: JSONValue?) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: return other.jsonText
        }
    }

    private static func parseError(details: String, hint: String) -> HTTPResponse {
        HTTPResponse.errorBody(status: 500, code: "PGRST121",
                               message: "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
                               details: details, hint: hint)
    }
}
