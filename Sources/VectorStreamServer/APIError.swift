import Foundation
import Hummingbird

/// Every error the API returns: `{"error": "...", "detail": "..."}` with a 4xx for bad input, never a 5xx.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let error: String
    public let detail: String

    public init(_ status: HTTPResponse.Status, _ error: String, _ detail: String) {
        self.status = status
        self.error = error
        self.detail = detail
    }

    static func badRequest(_ detail: String) -> APIError { APIError(.badRequest, "bad_request", detail) }
    static func notFound(_ detail: String) -> APIError { APIError(.notFound, "not_found", detail) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSON.response(["error": error, "detail": detail], status: status)
    }
}

/// Turns every error into the API's JSON shape; unknown failures become a 500 without internals.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            let status = error.status
            let (code, detail): (String, String) = switch status {
            case .notFound: ("not_found", "no route for \(request.method) \(request.uri.path)")
            case .contentTooLarge: ("body_too_large", "the request body is over the limit")
            case .methodNotAllowed: ("method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
            default: (status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"), "\(error)")
            }
            return JSON.response(["error": code, "detail": detail], status: status)
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return JSON.response(["error": "internal_error", "detail": "the server could not answer; see its log"],
                                 status: .internalServerError)
        }
    }
}

/// Requires the API key on `/v1` routes when one is configured; health, metrics and the dashboard stay open.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1") else { return try await next(request, context) }
        var presented = request.headers[.init("X-API-Key")!]
        if presented == nil, let auth = request.headers[.authorization], auth.hasPrefix("Bearer ") {
            presented = String(auth.dropFirst("Bearer ".count))
        }
        guard let presented, constantTimeEquals(presented, key) else {
            throw APIError(.unauthorized, "unauthorized", "send the API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
        }
        return try await next(request, context)
    }

    /// Comparison whose time does not depend on where the strings differ.
    func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}

/// JSON in and out without Codable boilerplate for small documents.
enum JSON {
    static func response(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return bytesResponse(Array(data), status: status)
    }

    static func bytesResponse(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        Response(status: status, headers: [.contentType: contentType],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func encode(_ object: Any) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
