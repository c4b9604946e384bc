extension VectorStreamConfiguration {
    /// S3-compatible object storage (AWS S3, SeaweedFS, MinIO) for uploaded files. Selected when `endpoint` is
    /// set; otherwise files stay in a directory under the data directory. Each value falls back to the standard
    /// `AWS_*` variable when neither the file nor a `VECTORSTREAM_S3_*` variable sets it.
    public struct S3Settings: Sendable, Hashable {
        /// `http(s)://host:port` of the S3 API (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`).
        public var endpoint: String?
        /// Default `vectorstream`.
        public var bucket = "vectorstream"
        /// Part of every signature. Default us-east-1 (`AWS_REGION`, `AWS_DEFAULT_REGION`).
        public var region = "us-east-1"
        /// `AWS_ACCESS_KEY_ID`.
        public var accessKeyID: String?
        /// Secret: masked in `config --print`, never logged (`AWS_SECRET_ACCESS_KEY`).
        public var secretAccessKey: String?
        /// Temporary credentials' token, secret too (`AWS_SESSION_TOKEN`).
        public var sessionToken: String?
        /// nil (`auto`, the default): path-style with a custom endpoint, virtual-hosted on AWS.
        public var pathStyle: Bool?
        /// Multipart part size in MiB, 5 (S3's minimum) ... 5,120. Default 8.
        public var partSizeMB = 8
        /// Longest wait for one request's answer (and for silence while a body streams). Default 60 s.
        public var timeout: Duration = .seconds(60)

        public init() {}
    }

    static var s3Keys: [ConfigurationKey] {
        func optional(_ key: String, _ env: String, secret: Bool = false, _ help: String,
                      _ path: WritableKeyPath<VectorStreamConfiguration, String?> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: env, isSecret: secret, help: help, read: { $0[keyPath: path] },
                             write: { c, v in c[keyPath: path] = v.isEmpty ? nil : v })
        }
        func string(_ key: String, _ env: String, _ help: String,
                    _ path: WritableKeyPath<VectorStreamConfiguration, String> & Sendable) -> ConfigurationKey {
            ConfigurationKey(key: key, environment: env, isSecret: false, help: help, read: { $0[keyPath: path] },
                             write: { c, v in
                                 guard !v.trimmingSpaces.isEmpty else { throw ConfigurationError("must not be empty") }
                                 c[keyPath: path] = v.trimmingSpaces
                             })
        }
        return [
            optional("s3.endpoint", "VECTORSTREAM_S3_ENDPOINT", "S3 API URL; selects S3 for uploaded files (else AWS_ENDPOINT_URL_S3)",
                     \.s3.endpoint),
            string("s3.bucket", "VECTORSTREAM_S3_BUCKET", "bucket of uploaded files", \.s3.bucket),
            string("s3.region", "VECTORSTREAM_S3_REGION", "signing region (else AWS_REGION, AWS_DEFAULT_REGION; us-east-1)", \.s3.region),
            optional("s3.access_key_id", "VECTORSTREAM_S3_ACCESS_KEY_ID", "access key id (else AWS_ACCESS_KEY_ID)", \.s3.accessKeyID),
            optional("s3.secret_access_key", "VECTORSTREAM_S3_SECRET_ACCESS_KEY", secret: true,
                     "secret access key (else AWS_SECRET_ACCESS_KEY)", \.s3.secretAccessKey),
            optional("s3.session_token", "VECTORSTREAM_S3_SESSION_TOKEN", secret: true,
                     "session token of temporary credentials (else AWS_SESSION_TOKEN)", \.s3.sessionToken),
            ConfigurationKey(key: "s3.path_style", environment: "VECTORSTREAM_S3_PATH_STYLE", isSecret: false,
                             help: "path-style addressing: auto (path-style with an endpoint, virtual-hosted on AWS), true, false",
                             read: { $0.s3.pathStyle.map { String($0) } ?? "auto" }, write: { c, v in
                                 switch v.trimmingSpaces.lowercased() {
                                 case "auto", "": c.s3.pathStyle = nil
                                 case "true", "yes", "1", "on": c.s3.pathStyle = true
                                 case "false", "no", "0", "off": c.s3.pathStyle = false
                                 default: throw ConfigurationError("expected auto, true or false, got '\(v)'")
                                 }
                             }),
            ConfigurationKey(key: "s3.part_size_mb", environment: "VECTORSTREAM_S3_PART_SIZE_MB", isSecret: false,
                             help: "multipart part size in MiB (5...5120)", read: { String($0.s3.partSizeMB) }, write: { c, v in
                                 guard let n = Int(v.trimmingSpaces) else { throw ConfigurationError("expected an integer, got '\(v)'") }
                                 guard (5...5120).contains(n) else {
                                     throw ConfigurationError("\(n) is out of range 5...5120 (S3 refuses parts under 5 MiB)")
                                 }
                                 c.s3.partSizeMB = n
                             }),
            ConfigurationKey(key: "s3.timeout", environment: "VECTORSTREAM_S3_TIMEOUT", isSecret: false,
                             help: "longest wait for one S3 request's answer (1s...1h)", read: { formatDuration($0.s3.timeout) },
                             write: { c, v in c.s3.timeout = try parseDuration(v, within: .seconds(1) ... .seconds(3600)) }),
        ]
    }

    /// The standard AWS variables, for each S3 setting that neither the file nor a `VECTORSTREAM_S3_*` variable set.
    mutating func applyS3Fallbacks(_ environment: [String: String]) {
        func fallback(_ key: String, _ names: [String], _ set: (inout VectorStreamConfiguration, String) -> Void) {
            guard origins[key] == nil else { return }
            for name in names {
                if let value = environment[name], !value.trimmingSpaces.isEmpty {
                    set(&self, value.trimmingSpaces)
                    origins[key] = "environment variable \(name)"
                    return
                }
            }
        }
        fallback("s3.endpoint", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) { $0.s3.endpoint = $1 }
        fallback("s3.region", ["AWS_REGION", "AWS_DEFAULT_REGION"]) { $0.s3.region = $1 }
        fallback("s3.access_key_id", ["AWS_ACCESS_KEY_ID"]) { $0.s3.accessKeyID = $1 }
        fallback("s3.secret_access_key", ["AWS_SECRET_ACCESS_KEY"]) { $0.s3.secretAccessKey = $1 }
        fallback("s3.session_token", ["AWS_SESSION_TOKEN"]) { $0.s3.sessionToken = $1 }
    }

    /// With an endpoint: an http(s) URL, and both halves of the key. Names the settings and their variables.
    func validateS3() throws {
        guard let endpoint = s3.endpoint else { return }
        let scheme = endpoint.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() }
        guard endpoint.contains("://"), scheme == "http" || scheme == "https" else {
            throw ConfigurationError("\(describe("s3.endpoint")): '\(Self.maskURL(endpoint))' is not an http:// or https:// URL; "
                                     + "write it as http://host:port")
        }
        if s3.accessKeyID == nil || s3.secretAccessKey == nil {
            let missing = [s3.accessKeyID == nil ? "s3.access_key_id (VECTORSTREAM_S3_ACCESS_KEY_ID or AWS_ACCESS_KEY_ID)" : nil,
                           s3.secretAccessKey == nil ? "s3.secret_access_key (VECTORSTREAM_S3_SECRET_ACCESS_KEY or AWS_SECRET_ACCESS_KEY)" : nil]
                .compactMap { $0 }
            throw ConfigurationError("\(describe("s3.endpoint")) is set but \(missing.joined(separator: " and ")) "
                                     + "\(missing.count == 1 ? "is" : "are") not; set \(missing.count == 1 ? "it" : "them")")
        }
        let bucket = s3.bucket
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }),
              bucket.first?.isLetter == true || bucket.first?.isNumber == true else {
            throw ConfigurationError("\(describe("s3.bucket")): '\(bucket)' is not a valid bucket name "
                                     + "(3 to 63 lowercase letters, digits, '-' and '.')")
        }
    }
}
