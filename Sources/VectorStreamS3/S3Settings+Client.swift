import Logging
import S3Client
import VectorStreamCore

extension S3ClientConfiguration {
    /// The client's configuration from the validated settings (`s3.*`, `VECTORSTREAM_S3_*`, `AWS_*`).
    public init(settings: VectorStreamConfiguration.S3Settings) {
        self.init(endpoint: settings.endpoint, bucket: settings.bucket, region: settings.region,
                  credentials: AWSCredentials(accessKeyID: settings.accessKeyID ?? "", secretAccessKey: settings.secretAccessKey ?? "",
                                              sessionToken: settings.sessionToken),
                  pathStyle: settings.pathStyle, partSize: settings.partSizeMB << 20, requestTimeout: settings.timeout)
    }
}

extension S3ObjectStore {
    /// The S3 store when `s3.endpoint` is set, else nil (the caller keeps the directory store).
    public static func fromConfiguration(_ configuration: VectorStreamConfiguration,
                                         logger: Logger = Logger(label: "vectorstream.s3")) throws -> S3ObjectStore? {
        guard configuration.s3.endpoint != nil else { return nil }
        do {
            return try S3ObjectStore(configuration: S3ClientConfiguration(settings: configuration.s3), logger: logger)
        } catch let error as S3Error {
            throw ConfigurationError("s3: \(error.message) (\(configuration.s3.endpoint.map(VectorStreamConfiguration.maskURL) ?? ""))")
        }
    }
}
