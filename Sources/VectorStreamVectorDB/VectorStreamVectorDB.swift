import AsyncHTTPClient
import Logging
import VectorStreamCore

/// Picks the vector database the configuration names: Milvus, Qdrant, or none (the caller then uses the
/// embedded index, the default).
public enum VectorDatabase {
    /// The store for `settings`, or nil when neither `vector_db.milvus_url` nor `vector_db.qdrant_url` is set.
    /// `VectorStreamConfiguration.validate()` already refuses both at once.
    public static func makeStore(settings: VectorStreamConfiguration.VectorDBSettings, dimension: Int = 384,
                                 httpClient: HTTPClient = .shared,
                                 logger: Logger = Logger(label: "vectorstream.vectordb"))
        -> (any VectorStore & HealthCheckable)?
    {
        if let url = settings.milvusURL {
            return MilvusVectorStore(
                configuration: .init(url: url, token: settings.milvusToken, collection: settings.collection,
                                     dimension: dimension),
                httpClient: httpClient, logger: logger)
        }
        if let url = settings.qdrantURL {
            return QdrantVectorStore(
                configuration: .init(url: url, apiKey: settings.qdrantAPIKey, collection: settings.collection,
                                     dimension: dimension),
                httpClient: httpClient, logger: logger)
        }
        return nil
    }
}
