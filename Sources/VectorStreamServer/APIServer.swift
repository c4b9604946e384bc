import Foundation
import Hummingbird
import Logging
import Prometheus
import VectorStreamCore

/// What the HTTP API reads from: the same stores the pipeline writes, chosen by configuration.
public struct APIDependencies: Sendable {
    public var embedder: any TextEmbedder
    public var vectors: any VectorStore
    public var analytics: any AnalyticsStore
    public var queryCache: (any QueryCache)?
    public var liveState: (any LiveStateStore)?
    public var health: [any HealthCheckable]
    public var prometheus: PrometheusCollectorRegistry?
    /// This process's own pipeline figures, when it runs one.
    public var localStats: (@Sendable () -> PipelineStats)?

    public init(embedder: any TextEmbedder, vectors: any VectorStore, analytics: any AnalyticsStore,
                queryCache: (any QueryCache)? = nil, liveState: (any LiveStateStore)? = nil,
                health: [any HealthCheckable] = [], prometheus: PrometheusCollectorRegistry? = nil,
                localStats: (@Sendable () -> PipelineStats)? = nil) {
        self.embedder = embedder
        self.vectors = vectors
        self.analytics = analytics
        self.queryCache = queryCache
        self.liveState = liveState
        self.health = health
        self.prometheus = prometheus
        self.localStats = localStats
    }
}

public struct APIServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); the bound port is reported through `onListening`.
    public var port = 8080
    public var apiKey: String?
    public var maxBodyBytes = 64 * 1024
    public var queryCacheTTL: Duration = .seconds(30)

    public init(host: String = "127.0.0.1", port: Int = 8080, apiKey: String? = nil, maxBodyBytes: Int = 64 * 1024) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
    }
}

/// The HTTP API: health, metrics, search, similar products, recommendations, analytics, OpenAPI and a dashboard.
public struct APIServer: Sendable {
    public let configuration: APIServerConfiguration
    let dependencies: APIDependencies
    let handlers: APIHandlers

    public init(configuration: APIServerConfiguration, dependencies: APIDependencies) {
        self.configuration = configuration
        self.dependencies = dependencies
        handlers = APIHandlers(dependencies: dependencies, configuration: configuration)
    }

    /// A Hummingbird application (a swift-service-lifecycle `Service`) serving the API.
    public func makeApplication(logger: Logger = Logger(label: "vectorstream.http"),
                                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        if let key = configuration.apiKey, !key.isEmpty { router.add(middleware: APIKeyMiddleware(key: key)) }
        let h = handlers
        router.get("/") { _, _ in JSON.bytesResponse(Array(Dashboard.html.utf8), contentType: "text/html; charset=utf-8") }
        router.get("/health") { _, _ in await h.health() }
        router.get("/ready") { _, _ in await h.ready() }
        router.get("/metrics") { _, _ in h.metrics() }
        router.get("/status") { _, _ in try await h.status() }
        router.get("/openapi.json") { _, _ in JSON.bytesResponse(Array(OpenAPIDocument.json.utf8)) }
        router.post("/v1/search") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: h.configuration.maxBodyBytes)
            return try await h.search(body: Array(buffer: body))
        }
        router.get("/v1/products/:id/similar") { request, context in
            try await h.similar(id: context.parameters.require("id"), query: request.uri.queryParameters)
        }
        router.get("/v1/users/:id/recommendations") { request, context in
            try await h.recommendations(userID: context.parameters.require("id"), query: request.uri.queryParameters)
        }
        router.get("/v1/analytics/top-products") { request, _ in try await h.topProducts(query: request.uri.queryParameters) }
        router.get("/v1/analytics/funnel") { request, _ in try await h.funnel(query: request.uri.queryParameters) }
        router.get("/v1/analytics/categories") { request, _ in try await h.categories(query: request.uri.queryParameters) }
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "VectorStream"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }
}
