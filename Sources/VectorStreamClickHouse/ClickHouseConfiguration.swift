import VectorStreamCore

/// How to reach one ClickHouse server over its HTTP interface, and how hard to try.
public struct ClickHouseConfiguration: Sendable, Hashable {
    /// `http://host:8123` (or `https://`). User-info in the URL is used when `user`/`password` are defaults.
    public var url: String
    /// Database holding every table; created by the migration. Default `vectorstream`.
    public var database: String
    /// Default `default`, the user every fresh server has.
    public var user: String
    /// Sent in the `X-ClickHouse-Key` header only; never logged, never part of an error.
    public var password: String?
    /// Time to open a connection. Default 2 s: a server that does not answer soon is treated as down.
    public var connectTimeout: Duration
    /// Longest wait for one query's answer. Default 30 s.
    public var queryTimeout: Duration
    /// Longest wait for one insert. Default 120 s: a big batch can queue behind merges.
    public var insertTimeout: Duration
    /// Ask the server to gzip responses (`enable_http_compression=1`) and decompress them here.
    /// Default true. Insert bodies go uncompressed: RowBinary is already compact and no gzip encoder is at hand.
    public var compression: Bool
    /// Settings sent with every query (`max_threads`, `max_execution_time`, ...).
    public var settings: [String: String]
    /// Rows per INSERT when a caller hands over more. Default 500,000: big enough to amortise the round trip,
    /// under `max_insert_block_size` (1,048,576) so each insert stays one block.
    public var maxRowsPerInsert: Int
    /// Concurrent INSERTs one batch is split into. Default 2: the server parses each INSERT on one thread,
    /// so two keep two cores busy; more mostly makes more parts to merge.
    public var insertConcurrency: Int
    /// Also write each event's JSON as received to `events.raw` (else an empty string). Default false: the
    /// typed columns and `products` hold every field, and the second copy costs about a third of the insert rate.
    public var storeRawJSON: Bool

    public init(url: String, database: String = "vectorstream", user: String = "default", password: String? = nil,
                connectTimeout: Duration = .seconds(2), queryTimeout: Duration = .seconds(30),
                insertTimeout: Duration = .seconds(120), compression: Bool = true,
                settings: [String: String] = [:], maxRowsPerInsert: Int = 500_000, insertConcurrency: Int = 2,
                storeRawJSON: Bool = false) {
        self.url = url
        self.database = database
        self.user = user
        self.password = password
        self.connectTimeout = connectTimeout
        self.queryTimeout = queryTimeout
        self.insertTimeout = insertTimeout
        self.compression = compression
        self.settings = settings
        self.maxRowsPerInsert = maxRowsPerInsert
        self.insertConcurrency = insertConcurrency
        self.storeRawJSON = storeRawJSON
    }

    /// From the application settings; nil when no ClickHouse URL is configured.
    public init?(_ settings: VectorStreamConfiguration.ClickHouseSettings) {
        guard let url = settings.url else { return nil }
        self.init(url: url, database: settings.database, user: settings.user, password: settings.password,
                  storeRawJSON: settings.storeRawJSON)
    }

    /// The URL with any password removed, fit for logs and errors.
    var displayURL: String { VectorStreamConfiguration.maskURL(url) }
}

extension ClickHouseConfiguration: CustomStringConvertible {
    /// Never shows the password.
    public var description: String {
        "ClickHouseConfiguration(url: \(displayURL), database: \(database), user: \(user), password: \(password == nil ? "none" : "****"))"
    }
}
