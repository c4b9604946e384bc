import Foundation
import S3Client
import Testing

/// The AWS SigV4 test suite (testdata/aws-sigv4-test-suite, from awslabs/aws-c-auth): for every applicable case,
/// the canonical request, the string to sign, the signature and the Authorization header (header signing) or the
/// X-Amz-Signature (query signing) must equal the suite's files byte for byte.
@Suite("S3 SigV4 test suite")
struct SigV4SuiteTests {
    static let suiteDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("testdata/aws-sigv4-test-suite")

    /// Cases that expect the path normalised (dot segments removed, repeated slashes merged). S3 never normalises a
    /// path: `a//b` and `x/../y` are keys of their own, so a signer for S3 must not do it; their `-unnormalized`
    /// twins (same request, no normalisation) run instead. Every other case applies to S3.
    static let skipped: [String: String] = [
        "get-relative-normalized": "expects /example/.. normalised to /; S3 signs the path as it is (its -unnormalized twin runs)",
        "get-relative-relative-normalized": "expects /example1/example2/../.. normalised to /; S3 does not normalise",
        "get-slash-dot-slash-normalized": "expects /./ normalised to /; S3 does not normalise",
        "get-slash-normalized": "expects // normalised to /; S3 does not normalise",
        "get-slash-pointless-dot-normalized": "expects /./example normalised to /example; S3 does not normalise",
        "get-slashes-normalized": "expects //example// normalised to /example/; S3 does not normalise",
    ]

    static let allCases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: suiteDirectory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "LICENSE" && $0 != "NOTICE" }.sorted()
    }()

    static let applicableCases: [String] = allCases.filter { skipped[$0] == nil }

    struct Case {
        var method: String
        var path: String
        var query: [(name: String, value: String)]
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var credentials: AWSCredentials
        var region: String
        var service: String
        var date: Date
        var expires: Int
        var normalize: Bool
        var signBody: Bool
        var omitSessionToken: Bool
    }

    static func file(_ name: String, _ file: String) throws -> String {
        try String(contentsOf: suiteDirectory.appendingPathComponent(name).appendingPathComponent(file), encoding: .utf8)
    }

    /// request.txt: `METHOD TARGET HTTP/1.1`, then `Name:value` lines (a line starting with white space continues
    /// the value before it), then an empty line and the body.
    static func load(_ name: String) throws -> Case {
        let raw = try file(name, "request.txt")
        let (head, body): (Substring, Substring)
        if let blank = raw.range(of: "\n\n") { (head, body) = (raw[..<blank.lowerBound], raw[blank.upperBound...]) } else { (head, body) = (raw[...], "") }
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        var target = String(requestLine.dropFirst(method.count + 1))
        if target.hasSuffix(" HTTP/1.1") { target.removeLast(" HTTP/1.1".count) }
        let path: String
        var query: [(name: String, value: String)] = []
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query.append((SigV4Signer.decode(String(parts[0])), parts.count > 1 ? SigV4Signer.decode(String(parts[1])) : ""))
            }
        } else {
            path = target
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let context = try #require(try JSONSerialization.jsonObject(with: Data(file(name, "context.json").utf8)) as? [String: Any])
        let credentials = try #require(context["credentials"] as? [String: Any])
        let timestamp = try #require(context["timestamp"] as? String)
        let date = try #require(ISO8601DateFormatter().date(from: timestamp))
        return Case(method: method, path: path, query: query, headers: headers, body: Array(body.utf8),
                    credentials: AWSCredentials(accessKeyID: credentials["access_key_id"] as! String,
                                                secretAccessKey: credentials["secret_access_key"] as! String,
                                                sessionToken: credentials["token"] as? String),
                    region: context["region"] as! String, service: context["service"] as! String, date: date,
                    expires: context["expiration_in_seconds"] as? Int ?? 3600, normalize: context["normalize"] as? Bool ?? true,
                    signBody: context["sign_body"] as? Bool ?? false, omitSessionToken: context["omit_session_token"] as? Bool ?? false)
    }

    @Test func theSuiteIsThereAndTheSkipListIsExactlyTheNormalisingCases() throws {
        #expect(Self.allCases.count == 38, "\(Self.allCases)")
        for name in Self.skipped.keys { #expect(Self.allCases.contains(name), "\(name) is not in the suite") }
        // A case is skipped exactly when it asks for normalisation and its path has something to normalise.
        for name in Self.allCases {
            let c = try Self.load(name)
            let changes = c.path.contains("//") || c.path.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." }
            #expect((c.normalize && changes) == (Self.skipped[name] != nil), "\(name)")
        }
    }

    @Test(arguments: applicableCases)
    func headerSigning(_ name: String) throws {
        let c = try Self.load(name)
        let signer = SigV4Signer(credentials: c.credentials, region: c.region, service: c.service)
        let request = SigV4Signer.Request(method: c.method, path: c.path, query: c.query, headers: c.headers)
        let signed = signer.signHeaders(request, payloadHash: SigV4Signer.sha256Hex(c.body), date: c.date,
                                        addContentSHA256: c.signBody, signSessionToken: !c.omitSessionToken)
        #expect(signed.canonicalRequest == (try Self.file(name, "header-canonical-request.txt")))
        #expect(signed.stringToSign == (try Self.file(name, "header-string-to-sign.txt")))
        #expect(signed.signature == (try Self.file(name, "header-signature.txt")))
        let expected = try Self.file(name, "header-signed-request.txt").split(separator: "\n")
            .first { $0.hasPrefix("Authorization:") }.map { String($0.dropFirst("Authorization:".count)) }
        #expect(signed.authorization == expected)
        // What goes on the wire carries the same signature, and the token whether or not it was signed.
        #expect(signed.headersToAdd.contains { $0.name == "Authorization" && $0.value == signed.authorization })
        if let token = c.credentials.sessionToken {
            #expect(signed.headersToAdd.contains { $0.name == "X-Amz-Security-Token" && $0.value == token })
        }
    }

    @Test(arguments: applicableCases)
    func querySigning(_ name: String) throws {
        let c = try Self.load(name)
        let signer = SigV4Signer(credentials: c.credentials, region: c.region, service: c.service)
        let request = SigV4Signer.Request(method: c.method, path: c.path, query: c.query, headers: c.headers)
        let signed = signer.presign(request, payloadHash: SigV4Signer.sha256Hex(c.body), date: c.date, expires: c.expires,
                                    signSessionToken: !c.omitSessionToken)
        #expect(signed.canonicalRequest == (try Self.file(name, "query-canonical-request.txt")))
        #expect(signed.stringToSign == (try Self.file(name, "query-string-to-sign.txt")))
        #expect(signed.signature == (try Self.file(name, "query-signature.txt")))
        let signedRequest = try Self.file(name, "query-signed-request.txt")
        #expect(signedRequest.contains("X-Amz-Signature=\(signed.signature) HTTP/1.1"))
        // Every parameter of the suite's signed request is in ours, encoded the same way.
        let ours = Set(signed.query.map { SigV4Signer.encode($0.name, keepSlash: false) + "=" + SigV4Signer.encode($0.value, keepSlash: false) })
        let line = String(signedRequest.split(separator: "\n")[0])
        let target = line.dropFirst(c.method.count + 1).dropLast(" HTTP/1.1".count)
        let theirs = target.split(separator: "?", maxSplits: 1).last!.split(separator: "&").map { pair -> String in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return SigV4Signer.encode(SigV4Signer.decode(String(parts[0])), keepSlash: false) + "="
                + SigV4Signer.encode(SigV4Signer.decode(parts.count > 1 ? String(parts[1]) : ""), keepSlash: false)
        }
        #expect(ours == Set(theirs))
    }
}
