import Foundation

/// A build context for POST /build: an uncompressed POSIX ustar archive of regular files held in memory
/// (the Dockerfile and whatever it COPYs). Names up to 100 bytes; enough for generated contexts.
public struct BuildContext: Sendable {
    private var files: [(name: String, data: Data, mode: Int)] = []

    public init() {}

    public mutating func add(_ name: String, _ data: Data, mode: Int = 0o644) {
        precondition(!name.isEmpty && name.utf8.count <= 100, "tar member names are 1 to 100 bytes")
        files.append((name, data, mode))
    }

    public mutating func add(_ name: String, text: String, mode: Int = 0o644) { add(name, Data(text.utf8), mode: mode) }

    /// The archive: a 512-byte header and the padded contents per file, then two zero blocks.
    public var tar: Data {
        var out = Data()
        for file in files {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, at offset: Int, width: Int) {
                for (i, byte) in text.utf8.prefix(width).enumerated() { header[offset + i] = byte }
            }
            func octal(_ value: Int, at offset: Int, width: Int) {
                put(String(String(value, radix: 8).suffix(width - 1)).leftPadded(to: width - 1), at: offset, width: width - 1)
            }
            put(file.name, at: 0, width: 100)
            octal(file.mode, at: 100, width: 8)
            octal(0, at: 108, width: 8)                      // uid
            octal(0, at: 116, width: 8)                      // gid
            octal(file.data.count, at: 124, width: 12)
            octal(0, at: 136, width: 12)                     // mtime: fixed, so the same context is the same bytes
            put("        ", at: 148, width: 8)               // checksum field counts as spaces
            header[156] = UInt8(ascii: "0")                  // regular file
            put("ustar\u{0}00", at: 257, width: 8)
            let sum = header.reduce(0) { $0 + Int($1) }
            put(String(String(sum, radix: 8)).leftPadded(to: 6) + "\u{0} ", at: 148, width: 8)
            out.append(contentsOf: header)
            out.append(file.data)
            let padding = (512 - file.data.count % 512) % 512
            out.append(Data(count: padding))
        }
        out.append(Data(count: 1024))
        return out
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
