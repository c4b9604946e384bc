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
    /// Dead-letter samples for `GET /v1/dead-letters` (the embedded store; with Kafka its local copy of the
    /// topic). nil: the route answers an empty page.
    public var deadLetters: (any DeadLetterReader)?
    /// The time series behind `GET /v1/metrics/history`. nil: the route answers no points.
    public var metricsHistory: (any MetricsHistory)?
    /// The embedded store's size, for `GET /v1/overview`.
    public var storeSize: (@Sendable () -> StoreSize)?
    /// Precision, kernel and measured rate of the embedder, for `GET /v1/overview`.
    public var embedderDetails: (@Sendable () -> EmbedderDetails)?
    /// The file routes (FileHandlers.swift). nil: they answer 404 and are not in the document.
    public var files: FileService?
    /// `POST /v1/ingest` (IngestHandlers.swift). nil: the route answers 404 and is not in the document.
    public var ingest: IngestService?

    public init(embedder: any TextEmbedder, vectors: any VectorStore, analytics: any AnalyticsStore,
                queryCache: (any QueryCache)? = nil, liveState: (any LiveStateStore)? = nil,
                health: [any HealthCheckable] = [], prometheus: PrometheusCollectorRegistry? = nil,
                localStats: (@Sendable () -> PipelineStats)? = nil, deadLetters: (any DeadLetterReader)? = nil,
                metricsHistory: (any MetricsHistory)? = nil, storeSize: (@Sendable () -> StoreSize)? = nil,
                embedderDetails: (@Sendable () -> EmbedderDetails)? = nil) {
        self.embedder = embedder
        self.vectors = vectors
        self.analytics = analytics
        self.queryCache = queryCache
        self.liveState = liveState
        self.health = health
        self.prometheus = prometheus
        self.localStats = localStats
        self.deadLetters = deadLetters
        self.metricsHistory = metricsHistory
        self.storeSize = storeSize
        self.embedderDetails = embedderDetails
    }
}

public struct APIServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests); the bound port is reported through `onListening`.
    public var port = 8080
    /// When set, every `/v1` route requires it (`Authorization: Bearer KEY` or `X-API-Key: KEY`).
    public var apiKey: String?
    /// Largest request body. A larger `Content-Length` is refused with 413 before the body is read.
    public var maxBodyBytes = 64 * 1024
    public var queryCacheTTL: Duration = .seconds(30)
    /// Longest wait for one call to a dependency (vector store, analytics store, query cache, live state, and
    /// each health check). A call past it fails and counts against the dependency's breaker. Default 2 s.
    public var readTimeout: Duration = .seconds(2)
    /// Consecutive failed or timed-out calls that open a dependency's breaker. Default 5.
    public var breakerFailureThreshold = 5
    /// How long an open breaker answers 503 at once before it lets one probe call through. Default 10 s.
    public var breakerCooldown: Duration = .seconds(10)

    public init(host: String = "127.0.0.1", port: Int = 8080, apiKey: String? = nil, maxBodyBytes: Int = 64 * 1024,
                readTimeout: Duration = .seconds(2), breakerFailureThreshold: Int = 5,
                breakerCooldown: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
        self.readTimeout = readTimeout
        self.breakerFailureThreshold = breakerFailureThreshold
        self.breakerCooldown = breakerCooldown
    }

    /// Whether `/v1` routes require a key.
    var requiresKey: Bool { !(apiKey ?? "").isEmpty }
}

/// Every route the router serves, by method; 405 answers and the OpenAPI test read it.
enum APIRoutes {
    static let all: [(method: HTTPRequest.Method, path: String)] = [
        (.get, "/"), (.get, "/health"), (.get, "/ready"), (.get, "/metrics"), (.get, "/status"), (.get, "/openapi.json"),
        (.post, "/v1/search"), (.get, "/v1/products/:id/similar"), (.get, "/v1/users/:id/recommendations"),
        (.get, "/v1/analytics/top-products"), (.get, "/v1/analytics/funnel"), (.get, "/v1/analytics/categories"),
        (.get, "/v1/overview"), (.get, "/v1/dead-letters"), (.get, "/v1/metrics/history"), (.post, "/v1/ingest"),
    ] + FileHandlers.routes

    /// The path's segments as the router sees them: split on `/`, empty segments dropped.
    static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// The methods served on the route this path matches; nil when it matches no route.
    static func allowedMethods(forPath path: String) -> [HTTPRequest.Method]? {
        let parts = segments(path)
        let methods = all.filter { route in
            let pattern = segments(route.path)
            return pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }.map(\.method)
        return methods.isEmpty ? nil : methods
    }
}

/// The HTTP API: health, metrics, search, similar products, recommendations, analytics, the console's routes
/// (overview, dead letters, metrics history), OpenAPI and the console page.
public struct APIServer: Sendable {
    public let configuration: APIServerConfiguration
    let dependencies: APIDependencies
    let handlers: APIHandlers
    let openAPI: [UInt8]

    /// - Parameter logger: where dependency timeouts and failures are logged (the application's own logger is
    ///   given to `makeApplication`).
    public init(configuration: APIServerConfiguration, dependencies: APIDependencies,
                logger: Logger = Logger(label: "vectorstream.http")) {
        self.configuration = configuration
        self.dependencies = dependencies
        handlers = APIHandlers(dependencies: dependencies, configuration: configuration, logger: logger)
        openAPI = OpenAPIDocument.addingFiles(OpenAPIDocument.json(requiresKey: configuration.requiresKey, ingest: dependencies.ingest != nil), enabled: dependencies.files != nil,
                                              requiresKey: configuration.requiresKey)
    }

    /// A Hummingbird application (a swift-service-lifecycle `Service`) serving the API.
    public func makeApplication(logger: Logger = Logger(label: "vectorstream.http"),
                                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: JSONErrorMiddleware())
        if let key = configuration.apiKey, !key.isEmpty { router.add(middleware: APIKeyMiddleware(key: key)) }
        let h = handlers
        let openAPI = openAPI
        router.get("/") { _, _ in JSON.bytesResponse(Array(Dashboard.html.utf8), contentType: "text/html; charset=utf-8") }
        router.get("/health") { _, _ in try await h.health() }
        router.get("/ready") { _, _ in try await h.ready() }
        router.get("/metrics") { _, _ in h.metrics() }
        router.get("/status") { _, _ in try await h.status() }
        router.get("/openapi.json") { _, _ in JSON.bytesResponse(openAPI) }
        router.post("/v1/search") { request, _ in
            try h.checkJSONBody(request.headers)
            var request = request
            let body = try await request.collectBody(upTo: h.configuration.maxBodyBytes)
            return try await h.search(body: Array(buffer: body))
        }
        router.get("/v1/products/:id/similar") { request, context in
            try await h.similar(id: APIHandlers.pathParameter(context.parameters.require("id"), name: "product id"),
                                query: request.uri.queryParameters)
        }
        router.get("/v1/users/:id/recommendations") { request, context in
            try await h.recommendations(userID: APIHandlers.pathParameter(context.parameters.require("id"), name: "user id"),
                                        query: request.uri.queryParameters)
        }
        router.get("/v1/analytics/top-products") { request, _ in try await h.topProducts(query: request.uri.queryParameters) }
        router.get("/v1/analytics/funnel") { request, _ in try await h.funnel(query: request.uri.queryParameters) }
        router.get("/v1/analytics/categories") { request, _ in try await h.categories(query: request.uri.queryParameters) }
        router.get("/v1/overview") { _, _ in try await h.overview() }
        router.get("/v1/dead-letters") { request, _ in try await h.deadLetters(query: request.uri.queryParameters) }
        router.get("/v1/metrics/history") { request, _ in try await h.metricsHistory(query: request.uri.queryParameters) }
        if let ingest = dependencies.ingest {
            let ingestHandlers = IngestHandlers(service: ingest, logger: logger)
            router.post("/v1/ingest") { request, _ in try await ingestHandlers.handle(request) }
        } else {
            router.post("/v1/ingest") { _, _ -> Response in
                throw APIError.notFound("this server does not ingest (it was built without an ingest pipeline)")
            }
        }
        FileHandlers.register(on: router, service: dependencies.files, logger: logger)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "VectorStream"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }
}
