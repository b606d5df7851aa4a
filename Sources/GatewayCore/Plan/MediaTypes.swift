/// The media types the gateway answers with: JSON only.
enum MediaTypes {
    static let json = "application/json; charset=utf-8"

    /// `Prefer: params=single-object` (PostgREST's older way to pass the body as one json argument).
    static func prefersSingleObject(_ prefer: String?) -> Bool {
        guard let prefer else { return false }
        return prefer.utf8.split(separator: UInt8(ascii: ",")).contains { item in
            String(decoding: item, as: UTF8.self).split(separator: " ").joined() == "params=single-object"
        }
    }

    /// An HTML form body (`application/x-www-form-urlencoded`): its pairs are the arguments.
    static func isForm(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        return contentType.utf8.count >= 33 && contentType.lowercased().hasPrefix("application/x-www-form-urlencoded")
    }

    /// Throws PGRST107 unless `Accept` is absent, empty, or allows JSON.
    static func checkAccept(_ accept: String?) throws {
        guard let accept else { return }
        switch accept {
        case "", "*/*", "application/json": return
        default: break
        }
        var offered: [String] = []
        for item in accept.utf8.split(separator: UInt8(ascii: ",")) {
            let type = item.prefix { $0 != UInt8(ascii: ";") }
                .drop { $0 == 0x20 || $0 == 0x09 }
            var end = type.endIndex
            while end > type.startIndex, type[type.index(before: end)] == 0x20 || type[type.index(before: end)] == 0x09 {
                end = type.index(before: end)
            }
            let text = String(decoding: type[..<end], as: UTF8.self).lowercased()
            switch text {
            case "": continue
            case "*/*", "application/*", "application/json": return
            default: offered.append(text)
            }
        }
        if offered.isEmpty { return }
        throw APIError.notAcceptable(accept: offered.joined(separator: ", "))
    }
}
