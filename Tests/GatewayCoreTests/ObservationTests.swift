import Testing
@testable import GatewayCore

/// The log's redaction search (bytes, memchr + memcmp) and its access-log line.
@Suite struct ObservationTests {
    @Test func byteSearchFindsEveryPlacement() {
        #expect(Observation.contains("abcdef", "cde"))
        #expect(Observation.contains("abcdef", "abcdef"))
        #expect(Observation.contains("aab", "ab"))                // a false start on the first byte
        #expect(Observation.contains("xyz secret", "secret"))     // at the very end
        #expect(Observation.contains("ünïcode sécret", "sécret"))
        #expect(!Observation.contains("abc", "abcd"))
        #expect(!Observation.contains("", "a"))
        #expect(!Observation.contains("abcab", "abd"))
        #expect(Observation.contains("abc", ""))
    }

    @Test func accessLinesAreRedactedAndEndTheLine() {
        // A 5xx line passes the default level (error), so no global setting is changed but the secrets.
        Observation.redact(["s3cr3t-value"])
        defer { Observation.redact([]) }
        let line = Observation.accessLine(method: "GET", path: "/rpc/x/s3cr3t-value", status: 503, nanoseconds: 1_250_000)
        #expect(line?.hasSuffix(" GET /rpc/x/[REDACTED] 503 1.3ms\n") == true, "\(line ?? "nil")")
        #expect(line?.utf8.count == 24 + " GET /rpc/x/[REDACTED] 503 1.3ms\n".utf8.count)
    }
}
