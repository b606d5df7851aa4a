import Foundation

/// The outcome of POST /build: the image id when it succeeded, the engine's build output either way.
public struct BuildOutcome: Sendable {
    public var imageID: String?
    public var error: String?
    public var log: String
    public var succeeded: Bool { error == nil && imageID != nil }
}

extension DockerEngine {
    /// Builds an image from a tar build context (POST /build), tagged `tag`, with network mode `network`
    /// for its RUN steps (nil: the engine's default; "none": no network). The engine streams JSON lines ({"stream"}, {"aux":{"ID"}}, {"error"}); a
    /// failed step arrives as an "error" line with status 200, so the outcome says which it was.
    public func buildImage(context: Data, tag: String, dockerfile: String = "Dockerfile",
                           buildArgs: [String: String] = [:], network: String? = nil,
                           timeout: Int64 = 3_600) async throws -> BuildOutcome {
        var query = [("t", tag), ("dockerfile", dockerfile), ("rm", "1"), ("forcerm", "1")]
        if let network { query.append(("networkmode", network)) }
        if !buildArgs.isEmpty { query.append(("buildargs", String(decoding: try Self.json(buildArgs), as: UTF8.self))) }
        let answer = try await send(.POST, "/build", query: query, body: context, contentType: "application/x-tar",
                                    timeout: .seconds(timeout))
        var log = "", error: String?, imageID: String?
        for line in answer.text.split(whereSeparator: \.isNewline) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                log += line + "\n"
                continue
            }
            if let stream = object["stream"] as? String { log += stream }
            if let message = object["error"] as? String {
                error = message
                log += "error: " + message + "\n"
            }
            if let id = (object["aux"] as? [String: Any])?["ID"] as? String { imageID = id }
        }
        if !(200..<300).contains(answer.status) {
            error = error ?? Self.message(answer)
        } else if error == nil, imageID == nil {
            // Older engines print only "Successfully built <id>"; the tag tells whether it exists.
            imageID = try await inspectImage(tag)
            if imageID == nil { error = "the build finished without an image" }
        }
        return BuildOutcome(imageID: imageID, error: error, log: log)
    }

    /// The image's id, or nil when the engine has no image of that name.
    public func inspectImage(_ name: String) async throws -> String? {
        let answer = try await send(.GET, "/images/\(name)/json")
        if answer.status == 404 { return nil }
        guard answer.status == 200 else {
            throw Failure(status: answer.status, message: Self.message(answer), operation: "inspect image \(name)")
        }
        return try Self.object(answer)["Id"] as? String
    }

    /// Tags image `source` as `repository:tag`.
    public func tagImage(_ source: String, repository: String, tag: String) async throws {
        _ = try await expect(.POST, "/images/\(source)/tag", query: [("repo", repository), ("tag", tag)])
    }

    /// Removes an image (true when it existed).
    @discardableResult
    public func removeImage(_ name: String) async throws -> Bool {
        let answer = try await expect(.DELETE, "/images/\(name)", query: [("force", "true")], accept: [404])
        return answer.status != 404
    }
}
