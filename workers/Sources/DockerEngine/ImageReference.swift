import Foundation

/// How the platform names an image on a host: `localhost/a4c/<image>:<arch>-<change>`. The build
/// worker tags what it builds so; the host agent creates workspaces from that reference. Docker
/// repository names allow only [a-z0-9] separated by '.', '_', "__" or dashes; anything else becomes '-',
/// and a name that had to change gets a digest of the original appended.
public enum ImageReference {
    public static func repository(image: String) -> String {
        // A run of separators is valid only as one '.', one '_', "__" or dashes: collapse runs to '-'.
        var name = ""
        for character in sanitized(image.lowercased(), allowed: "abcdefghijklmnopqrstuvwxyz0123456789._-", fallback: "image") {
            if ".-_".contains(character), let last = name.last, ".-_".contains(last) {
                name.removeLast()
                name.append("-")
            } else {
                name.append(character)
            }
        }
        // Names that had to change get a digest of the original, so two images never share a reference.
        if name != image { name = String(name.prefix(90)) + "-" + fnv1a(image) }
        return "localhost/a4c/" + name
    }

    /// FNV-1a (32 bits) of the UTF-8 bytes, 8 hex digits: stable across runs and machines.
    static func fnv1a(_ text: String) -> String {
        var hash: UInt32 = 0x811c_9dc5
        for byte in text.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    public static func tag(arch: String, change: Int64) -> String {
        sanitized(arch, allowed: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", fallback: "arch") + "-\(change)"
    }

    public static func reference(image: String, arch: String, change: Int64) -> String {
        repository(image: image) + ":" + tag(arch: arch, change: change)
    }

    static func sanitized(_ text: String, allowed: String, fallback: String) -> String {
        var out = String(text.map { allowed.contains($0) ? $0 : "-" })
        while let first = out.first, !first.isLetter && !first.isNumber { out.removeFirst() }
        while let last = out.last, !last.isLetter && !last.isNumber { out.removeLast() }
        return String((out.isEmpty ? fallback : out).prefix(100))
    }
}
