import Testing
@testable import GatewayCore

/// The request target splits once, at its first `?`, into the path and the query, byte for byte as sent
/// (nothing decoded); the path is what the access log, the metrics and the router see.
struct RequestContextTests {
    @Test(arguments: [
        ("/rpc/get_widget?widget_sn=seed-1", "/rpc/get_widget", "widget_sn=seed-1"),
        ("/rpc/f", "/rpc/f", ""),
        ("/rpc/f?", "/rpc/f", ""),
        ("/rpc/f?a=1?b=2", "/rpc/f", "a=1?b=2"),
        ("?only=query", "", "only=query"),
        ("/rpc/caf%C3%A9?x=%3F", "/rpc/caf%C3%A9", "x=%3F"),
        ("/rpc/café?name=é\u{301}", "/rpc/café", "name=é\u{301}"),
        ("", "", ""),
    ])
    func targetSplitsAtTheFirstQuestionMark(target: String, path: String, query: String) {
        let context = RequestContext(target: target)
        #expect(context.path == path)
        #expect(context.query == query)
    }
}
