import Testing
@testable import GatewayCore

/// Server-sent events without a database: the framing of payloads (one `data:` line per line, CR,
/// LF and CRLF alike, then a blank line), comments, and the channel names `GET /notify/<channel>`
/// accepts (one percent-decoded path segment of 1 to 63 bytes, no NUL).
@Suite struct EventStreamTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func aPayloadIsOneDataLinePerLineThenABlankLine() {
        #expect(text(EventStreamText.event("hello")) == "data: hello\n\n")
        #expect(text(EventStreamText.event("")) == "data: \n\n")
        #expect(text(EventStreamText.event("a\nb\r\nc\rd")) == "data: a\ndata: b\ndata: c\ndata: d\n\n")
        #expect(text(EventStreamText.event("end\n")) == "data: end\ndata: \n\n")
        #expect(text(EventStreamText.event("{\"é\":1}")) == "data: {\"é\":1}\n\n")
    }

    @Test func aCommentIsALineStartingWithAColon() {
        #expect(text(EventStreamText.comment("keep-alive")) == ": keep-alive\n\n")
    }

    @Test func channelsArePercentDecodedSegmentsOfOneTo63Bytes() throws {
        #expect(try ListenPlan.channel(path: "/notify/builds") == "builds")
        #expect(try ListenPlan.channel(path: "/notify/user%2D1/") == "user-1")
        #expect(try ListenPlan.channel(path: "/notify/a%20b") == "a b")
        #expect(try ListenPlan.channel(path: "/notify/" + String(repeating: "x", count: 63)).utf8.count == 63)
        // 21 three-byte characters: 63 bytes.
        #expect(try ListenPlan.channel(path: "/notify/" + String(repeating: "€", count: 21)).count == 21)
        for bad in ["/notify/", "/notify/a/b", "/notify/" + String(repeating: "x", count: 64),
                    "/notify/" + String(repeating: "€", count: 22), "/notify/a%00b"] {
            #expect(throws: APIError.self, "\(bad)") { try ListenPlan.channel(path: bad) }
        }
    }

    @Test func badChannelsAre400WithTheGatewaysCode() {
        let response = HTTPResponse(error: APIError.listen(.invalidChannel(reason: "the channel name is empty")), authenticated: false)
        #expect(response.status == 400)
        #expect(text(response.body).contains("PGRSTX40"))
        let full = HTTPResponse(error: APIError.listen(.tooManySubscribers(limit: 3)), authenticated: true)
        #expect(full.status == 503)
        #expect(full.headers.contains { $0.0 == "Retry-After" })
    }
}
