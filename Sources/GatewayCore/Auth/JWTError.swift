/// Why a request's token was refused, with PostgREST's codes and messages (PGRST300-303).
public enum JWTError: Error, Sendable, Equatable {
    /// PGRST300 (500): a token was sent but no jwt-secret is configured.
    case secretMissing
    /// PGRST301 (401): the token could not be decoded or verified.
    case decode(String, details: String? = nil)
    /// PGRST302 (401): no token, and no db-anon-role.
    case tokenRequired
    /// PGRST303 (401): a claim is invalid (expired, not yet valid, audience...).
    case claims(String, details: String? = nil)

    static let emptyToken = JWTError.decode("Empty JWT is sent in Authorization header")
    static func parts(_ n: Int) -> JWTError { .decode("Expected 3 parts in JWT; got \(n)") }
    static let badCrypto = JWTError.decode("JWT cryptographic operation failed")
    static func badAlgorithm(_ alg: String) -> JWTError {
        .decode("Wrong or unsupported encoding algorithm", details: "JWT algorithm \(alg) is not supported; only HS256 is accepted")
    }

    public var status: Int { self == .secretMissing ? 500 : 401 }

    public var code: String {
        switch self {
        case .secretMissing: "PGRST300"
        case .decode: "PGRST301"
        case .tokenRequired: "PGRST302"
        case .claims: "PGRST303"
        }
    }

    public var message: String {
        switch self {
        case .secretMissing: "Server lacks JWT secret"
        case .decode(let message, _), .claims(let message, _): message
        case .tokenRequired: "Anonymous access is disabled"
        }
    }

    public var details: String? {
        switch self {
        case .decode(_, let details), .claims(_, let details): details
        default: nil
        }
    }

    /// `WWW-Authenticate` as PostgREST sends it (RFC 6750).
    public var wwwAuthenticate: String? {
        switch self {
        case .secretMissing: nil
        case .tokenRequired: "Bearer"
        case .decode(let message, _), .claims(let message, _):
            "Bearer error=\"invalid_token\", error_description=\"\(message.replacingOccurrences(of: "\"", with: "\\\""))\""
        }
    }
}
