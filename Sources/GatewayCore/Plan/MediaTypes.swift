/// JSON, the media type of errors and of calls that do not ask for another; `Prefer: params=single-object`.
enum MediaTypes {
    static let json = "application/json; charset=utf-8"

    /// `Prefer: params=single-object` (PostgREST's older way to pass the body as one json argument).
    static func prefersSingleObject(_ prefer: String?) -> Bool {
        guard let prefer else { return false }
        return prefer.utf8.split(separator: UInt8(ascii: ",")).contains { item in
            String(decoding: item, as: UTF8.self).split(separator: " ").joined() == "params=single-object"
        }
    }
}
