import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Credentials for AWS Signature Version 4. `description` never shows the secret or the session token, so a
/// credentials value can be logged or interpolated into an error without leaking them.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Temporary credentials (STS) carry a session token, sent as `x-amz-security-token` and signed.
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String { "AWSCredentials(\(accessKeyID), secret ****\(sessionToken == nil ? "" : ", session token ****"))" }
}

/// AWS Signature Version 4, as AWS documents it ("Create a signed AWS API request"), with S3's rules: the path is
/// URI-encoded once and never normalised (`//`, `.` and `..` are part of a key), and the payload hash is signed.
///
/// The signer works on a request whose path and query are given *decoded*; it encodes them itself, and the
/// request that is sent must use ``SigV4Signer/encodePath(_:)`` and ``SigV4Signer/encodeQuery(_:)`` so that what
/// is signed is byte for byte what is sent.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// SHA-256 of the empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    /// The payload hash of presigned URLs: the URL is made before anyone knows what will be sent with it (a GET has
    /// no body, a presigned PUT's body is chosen by whoever holds the URL), so S3 documents this literal instead.
    /// Requests this client sends itself always sign the real SHA-256 of their body.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let algorithm = "AWS4-HMAC-SHA256"

    /// A request as the signer sees it. `path` and query values are decoded text (a key with a space holds a space).
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(name: String, value: String)]
        /// Every header to sign, `host` included. Names in any case; repeated names are joined with commas in order.
        public var headers: [(name: String, value: String)]

        public init(method: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
        }
    }

    /// What header signing produced; each intermediate step is kept so tests can compare it exactly.
    public struct HeaderSignature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
        /// Headers to add to the request as they are (`X-Amz-Date`, `x-amz-content-sha256`, `X-Amz-Security-Token`,
        /// `Authorization`).
        public var headersToAdd: [(name: String, value: String)]
    }

    /// What query signing (a presigned URL) produced.
    public struct QuerySignature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// The request's own query parameters followed by the `X-Amz-*` ones, `X-Amz-Signature` last; decoded.
        public var query: [(name: String, value: String)]
    }

    /// Signs with the `Authorization` header.
    /// - Parameters:
    ///   - payloadHash: hex SHA-256 of the body (S3 needs it for every request this client sends).
    ///   - addContentSHA256: send and sign `x-amz-content-sha256` (S3 requires it; other services do not).
    ///   - signSessionToken: false only for services that want the token added after signing (the test suite's
    ///     `omit_session_token` case); S3 signs it.
    public func signHeaders(_ request: Request, payloadHash: String, date: Date, addContentSHA256: Bool = true,
                            signSessionToken: Bool = true) -> HeaderSignature {
        let stamp = Self.timestamp(date)
        var headers = request.headers
        var added: [(name: String, value: String)] = [("X-Amz-Date", stamp.dateTime)]
        if addContentSHA256 { added.append(("x-amz-content-sha256", payloadHash)) }
        var unsignedToken: (name: String, value: String)?
        if let token = credentials.sessionToken {
            if signSessionToken { added.append(("X-Amz-Security-Token", token)) } else { unsignedToken = ("X-Amz-Security-Token", token) }
        }
        headers += added
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let canonicalRequest = [request.method, Self.encodePath(request.path), Self.canonicalQuery(request.query),
                                canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let scope = "\(stamp.date)/\(region)/\(service)/aws4_request"
        let stringToSign = [Self.algorithm, stamp.dateTime, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        let signature = sign(stringToSign, date: stamp.date)
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        if let unsignedToken { added.append(unsignedToken) }
        added.append(("Authorization", authorization))
        return HeaderSignature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                               authorization: authorization, headersToAdd: added)
    }

    /// Signs in the query string (a presigned URL) valid for `expires` seconds (S3 allows 1 s ... 7 days).
    public func presign(_ request: Request, payloadHash: String = SigV4Signer.unsignedPayload, date: Date,
                        expires: Int, signSessionToken: Bool = true) -> QuerySignature {
        let stamp = Self.timestamp(date)
        let scope = "\(stamp.date)/\(region)/\(service)/aws4_request"
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(request.headers)
        var authQuery: [(name: String, value: String)] = [
            ("X-Amz-Algorithm", Self.algorithm),
            ("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"),
            ("X-Amz-Date", stamp.dateTime),
            ("X-Amz-Expires", String(expires)),
            ("X-Amz-SignedHeaders", signedHeaders),
        ]
        var signedQuery = request.query + authQuery
        if let token = credentials.sessionToken {
            if signSessionToken { signedQuery.append(("X-Amz-Security-Token", token)) }
            authQuery.append(("X-Amz-Security-Token", token))
        }
        let canonicalRequest = [request.method, Self.encodePath(request.path), Self.canonicalQuery(signedQuery),
                                canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let stringToSign = [Self.algorithm, stamp.dateTime, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        let signature = sign(stringToSign, date: stamp.date)
        return QuerySignature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                              query: request.query + authQuery + [("X-Amz-Signature", signature)])
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"); the signature is
    /// HMAC(kSigning, stringToSign) in lowercase hex.
    func sign(_ stringToSign: String, date: String) -> String {
        var key = SymmetricKey(data: Data(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
    }

    // MARK: Canonical forms

    /// Lowercase names, sorted; values trimmed with inner runs of whitespace (folded lines too) made one space;
    /// a repeated header's values joined with commas in the order given.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (canonical: String, signed: String) {
        var byName: [String: [String]] = [:]
        for (name, value) in headers {
            byName[name.lowercased(), default: []].append(collapseWhitespace(value))
        }
        let names = byName.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let canonical = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    static func collapseWhitespace(_ value: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in value.unicodeScalars {
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Each name and value encoded (`/` too), sorted by encoded name then value, joined with `&`.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (encode($0.name, keepSlash: false), encode($0.value, keepSlash: false)) }
            .sorted { a, b in
                a.0 == b.0 ? Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
                    : Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8))
            }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The query as sent: the same encoding as the canonical form (order does not matter to S3).
    public static func encodeQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { "\(encode($0.name, keepSlash: false))=\(encode($0.value, keepSlash: false))" }.joined(separator: "&")
    }

    /// The path as signed and sent: every byte of its UTF-8 except A-Z a-z 0-9 - . _ ~ and `/` as %XX (uppercase
    /// hex), once; nothing is normalised, so `a//b`, `./` and `..` stay as they are.
    public static func encodePath(_ path: String) -> String { encode(path, keepSlash: true) }

    /// S3's `UriEncode`: unreserved bytes stay, everything else (space as %20, `+` as %2B, UTF-8 byte by byte) is
    /// %XX; `/` stays only in paths.
    public static func encode(_ text: String, keepSlash: Bool) -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-decoding (for parsing query strings given encoded); `+` stays a plus.
    public static func decode(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `20130524T000000Z` and `20130524` in UTC.
    public static func timestamp(_ date: Date) -> (dateTime: String, date: String) {
        var time = time_t(Int(date.timeIntervalSince1970.rounded(.down)))
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return ("\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z", day)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lowercase hex SHA-256 of bytes.
    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String { hex(SHA256.hash(data: data)) }
}
