import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Calls `/rpc/<fn>` on the gateway (or nginx) with a worker's token; one blocking call at a time.
public struct GatewayClient: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var body: String
        public init(status: Int, body: String) {
            self.status = status
            self.body = body
        }
        public var description: String { "HTTP \(status): \(body)" }
    }

    public let base: URL
    public let token: String

    public init(base: URL, token: String) {
        self.base = base
        self.token = token
    }

    /// POSTs `arguments` as JSON; returns the decoded JSON answer (NSNull for `null`), or throws `Failure`.
    public func call(_ function: String, _ arguments: [String: Any]) throws -> Any {
        var request = URLRequest(url: base.appendingPathComponent("rpc").appendingPathComponent(function))
        request.httpMethod = "POST"
        request.timeoutInterval = 30
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.httpBody = try JSONSerialization.data(withJSONObject: arguments)
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.set(data: data, status: (response as? HTTPURLResponse)?.statusCode ?? 0, error: error)
            done.signal()
        }.resume()
        done.wait()
        let (data, status, error) = box.get()
        if let error { throw Failure(status: 0, body: error.localizedDescription) }
        let text = String(decoding: data ?? Data(), as: UTF8.self)
        guard (200..<300).contains(status) else { throw Failure(status: status, body: text) }
        if text.isEmpty { return NSNull() }
        return try JSONSerialization.jsonObject(with: data!, options: [.fragmentsAllowed])
    }
}

/// Hands the URLSession completion's values to the waiting thread.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Data?, Int, Error?) = (nil, 0, nil)
    func set(data: Data?, status: Int, error: Error?) { lock.withLock { value = (data, status, error) } }
    func get() -> (Data?, Int, Error?) { lock.withLock { value } }
}
