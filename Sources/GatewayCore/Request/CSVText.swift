/// CSV as PostgREST reads a `text/csv` body (RFC 4180, cassava's `decodeByName`): comma-separated
/// fields, double-quoted ones with `""` for a quote, records ending in LF or CRLF.
enum CSVText {
    /// The records, header first; nil when a quoted field is not closed or text follows its quote.
    static func records(_ bytes: [UInt8]) -> [[String]]? {
        var records: [[String]] = []
        var record: [String] = []
        var field: [UInt8] = []
        var index = 0
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        func endField() {
            record.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        while index < bytes.count {
            if field.isEmpty, bytes[index] == quote {
                index += 1
                while true {
                    guard index < bytes.count else { return nil }
                    if bytes[index] == quote {
                        if index + 1 < bytes.count, bytes[index + 1] == quote {
                            field.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    field.append(bytes[index])
                    index += 1
                }
                guard index == bytes.count || [comma, cr, lf].contains(bytes[index]) else { return nil }
                continue
            }
            switch bytes[index] {
            case comma:
                endField()
            case cr where index + 1 < bytes.count && bytes[index + 1] == lf:
                break
            case lf:
                endField()
                records.append(record)
                record.removeAll()
            default:
                field.append(bytes[index])
            }
            index += 1
        }
        if !field.isEmpty || !record.isEmpty {
            endField()
            records.append(record)
        }
        return records
    }
}
