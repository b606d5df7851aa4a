import Foundation

/// One e-mail of the outbox as an RFC 5322 message, ready for `sendmail -t` or any program that reads
/// a message on its standard input. Header values never carry a line break (no header injection) and
/// non-ASCII ones are RFC 2047 encoded; the body is UTF-8 text.
struct Message {
    let id: Int
    let to: String
    let from: String
    let subject: String
    let body: String
    let date: Date

    /// From a claim_notifications entry; `toTemplate` turns the recipient (a user's sub) into an
    /// address: "{recipient}" is replaced, e.g. "{recipient}@example.com".
    init?(_ mail: [String: Any], toTemplate: String, from: String, date: Date = Date()) {
        guard let id = mail["id"] as? Int, let recipient = mail["recipient"] as? String,
              let subject = mail["subject"] as? String, let body = mail["body"] as? String else { return nil }
        self.id = id
        self.to = toTemplate.replacingOccurrences(of: "{recipient}", with: recipient)
        self.from = from
        self.subject = subject
        self.body = body
        self.date = date
    }

    var text: String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let headers = [
            ("From", Self.header(from)), ("To", Self.header(to)), ("Subject", Self.header(subject)),
            ("Date", formatter.string(from: date)), ("Message-ID", "<notification-\(id)@a4c.platform>"),
            ("MIME-Version", "1.0"), ("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "8bit"),
        ]
        let body = self.body.replacingOccurrences(of: "\r\n", with: "\n")
        return headers.map { "\($0.0): \($0.1)\n" }.joined() + "\n" + body + (body.hasSuffix("\n") ? "" : "\n")
    }

    /// A header value on one line; RFC 2047 base64 when it is not plain ASCII.
    static func header(_ value: String) -> String {
        let line = value.map { $0.isNewline ? " " : String($0) }.joined()
        if line.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 }) { return line }
        return "=?UTF-8?B?\(Data(line.utf8).base64EncodedString())?="
    }
}
