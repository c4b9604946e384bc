import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Why a vector database call failed. Never carries a token or API key.
public struct VectorDatabaseError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Hashable {
        /// The server could not be reached or did not answer in time.
        case unreachable
        /// The server answered with an error status or an error code in the body.
        case server
        /// The answer was not what the API documents.
        case unexpectedResponse
        /// The collection exists with a different shape (dimension, schema) than configured.
        case incompatibleCollection
        /// The caller passed something the store cannot accept (wrong dimension, ...).
        case invalidArgument
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

/// One REST endpoint: base URL, auth header and timeout, over a shared `HTTPClient`.
struct RESTTransport: Sendable {
    let baseURL: String
    let headers: HTTPHeaders
    let timeout: TimeAmount
    let client: HTTPClient
    /// Names the backend in errors ("milvus", "qdrant").
    let system: String
    /// Largest answer read; a search answer is a few kilobytes, a full vector query a few megabytes.
    let maxResponseBytes = 64 << 20

    init(baseURL: String, authorization: (name: String, value: String)?, timeout: Duration, client: HTTPClient,
         system: String) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json")
        if let authorization { headers.add(name: authorization.name, value: authorization.value) }
        self.headers = headers
        let c = timeout.components
        self.timeout = .nanoseconds(c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000)
        self.client = client
        self.system = system
    }

    struct Response: Sendable {
        var status: HTTPResponseStatus
        var body: [UInt8]

        var text: String { String(decoding: body.prefix(500), as: UTF8.self) }

        func json() throws -> JSONValue {
            do {
                return try JSONValue(parsing: body)
            } catch {
                throw VectorDatabaseError(.unexpectedResponse, "not JSON (HTTP \(status.code)): \(text)")
            }
        }
    }

    /// Sends one request; the status is the caller's to judge, except that no answer at all is `.unreachable`.
    func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers = headers
        if let body {
            let bytes = body.serialized
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        do {
            let response = try await client.execute(request, timeout: timeout)
            var buffer = try await response.body.collect(upTo: maxResponseBytes)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            return Response(status: response.status, body: bytes)
        } catch let error as HTTPClientError {
            throw VectorDatabaseError(.unreachable, "\(system) \(method.rawValue) \(path): \(error)")
        } catch let error as NIOTooManyBytesError {
            throw VectorDatabaseError(.unexpectedResponse, "\(system) \(method.rawValue) \(path): \(error)")
        } catch {
            throw VectorDatabaseError(.unreachable, "\(system) \(method.rawValue) \(path): \(error)")
        }
    }
}
