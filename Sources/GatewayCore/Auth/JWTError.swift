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
    /// A token jose-jwt cannot parse: a part that is not base64url, a header that is not JSON or names
    /// an unknown algorithm.
    static let badCrypto = JWTError.decode("JWT cryptographic operation failed")
    /// `alg: none`: PostgREST never accepts unsigned tokens.
    static let unsecured = JWTError.decode("Wrong or unsupported encoding algorithm",
                                           details: "JWT is unsecured but expected 'alg' was not 'none'")
    /// No key of jwt-secret may verify this token: its `kid` names none, or their `use`, `alg` or type exclude it.
    static let noSuitableKey = JWTError.decode("No suitable key or wrong key type", details: "No suitable key was found to decode the JWT")
    /// Keys were suitable, but the signature verifies with none of them (a wrong secret, a forged token).
    static let noKeyVerified = JWTError.decode("No suitable key or wrong key type", details: "None of the keys was able to decode the JWT")

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
