import Foundation
import Hummingbird
import Logging

/// Every error the API returns: `{"error": "...", "detail": "..."}`, a 4xx for bad input.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let error: String
    public let detail: String
    public let headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ error: String, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
    }

    static func badRequest(_ detail: String) -> APIError { APIError(.badRequest, "bad_request", detail) }
    static func notFound(_ detail: String) -> APIError { APIError(.notFound, "not_found", detail) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSON.errorResponse(status: status, error: error, detail: detail, headers: headers)
    }
}

/// Turns every error into the API's JSON shape: 503 + `Retry-After` for a dependency that is unavailable,
/// 405 + `Allow` for a known path asked with another method, and a logged 500 without internals for the rest
/// (a response that cannot be encoded included: never an empty 200).
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as DependencyUnavailable {
            return JSON.errorResponse(status: .serviceUnavailable, error: "dependency_unavailable", detail: error.detail,
                                      extra: ["dependency": error.dependency, "retry_after_seconds": error.retryAfterSeconds],
                                      headers: [.retryAfter: String(error.retryAfterSeconds)])
        } catch let error as HTTPResponseError {
            let status = error.status
            if status == .notFound, let allowed = APIRoutes.allowedMethods(forPath: request.uri.path), !allowed.isEmpty {
                let allow = allowed.map(\.rawValue).joined(separator: ", ")
                return JSON.errorResponse(status: .methodNotAllowed, error: "method_not_allowed",
                                          detail: "\(request.method) is not allowed on \(request.uri.path); allowed: \(allow)",
                                          headers: [.allow: allow])
            }
            let (code, detail): (String, String) = switch status {
            case .notFound: ("not_found", "no route for \(request.method) \(request.uri.path)")
            case .contentTooLarge: ("body_too_large", "the request body is over the limit")
            case .methodNotAllowed: ("method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
            default: (status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"), "\(error)")
            }
            return JSON.errorResponse(status: status, error: code, detail: detail)
        } catch {
            context.logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)",
                                                              "error": "\(error)"])
            return JSON.errorResponse(status: .internalServerError, error: "internal_error",
                                      detail: "the server could not answer; see its log")
        }
    }
}

/// Requires the API key on `/v1` routes when one is configured; health, metrics and the dashboard stay open.
///
/// The decision is made on the route the router resolved (`context.endpointPath`), not on the spelling of the
/// request's path: the router treats `//v1/search` as `/v1/search`, so must the check. A path that matched no
/// route is still protected when its segments start with `v1`, so that a keyless client learns nothing (not even
/// which methods a `/v1` path allows).
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: [UInt8]

    init(key: String) { self.key = Array(key.utf8) }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isProtected(endpoint: context.endpointPath, path: request.uri.path) else {
            return try await next(request, context)
        }
        // Every credential presented must be the key: a right X-API-Key beside a wrong Authorization (or one of
        // another scheme) is refused, not accepted by whichever header happens to be read first.
        var presented: [Substring] = []
        var allMatch = true
        if let header = request.headers[.init("X-API-Key")!] { presented.append(header[...]) }
        if let auth = request.headers[.authorization] {
            // The scheme is case-insensitive (RFC 9110); any scheme but Bearer is a wrong credential.
            if auth.count >= 7, auth.prefix(7).lowercased() == "bearer " {
                presented.append(auth.dropFirst(7))
            } else {
                presented.append(auth[...])
                allMatch = false
            }
        }
        allMatch = allMatch && !presented.isEmpty
        for credential in presented {
            // No short-circuit: each is compared whole.
            allMatch = ConstantTime.equal(presented: credential.utf8, key: key) && allMatch
        }
        guard allMatch else {
            throw APIError(.unauthorized, "unauthorized", "send the API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }

    static func isProtected(endpoint: String?, path: String) -> Bool {
        if let endpoint { return APIRoutes.segments(endpoint).first == "v1" }
        return APIRoutes.segments(path).first == "v1"
    }
}

/// Key comparison whose time depends only on the configured key's length: every byte of it is XOR-folded
/// against the presented key's (zero past its end), with no early exit on the first difference.
enum ConstantTime {
    static func equal(presented: some Collection<UInt8>, key: [UInt8]) -> Bool {
        let presented = Array(presented)
        var diff: UInt8 = presented.count == key.count ? 0 : 1
        for i in key.indices {
            diff |= key[i] ^ (i < presented.count ? presented[i] : 0)
        }
        return diff == 0
    }
}

/// JSON in and out without Codable boilerplate for small documents.
enum JSON {
    /// A document that JSON cannot carry (an infinite or NaN number, a value of no JSON type).
    struct EncodingFailure: Error, CustomStringConvertible {
        let description: String
    }

    static func response(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        bytesResponse(try encode(object), status: status)
    }

    static func bytesResponse(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, contentType: String = "application/json",
                              headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = contentType
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Encodes or throws: a number JSON cannot write is an error, never a silent `{}`.
    static func encode(_ object: Any) throws -> [UInt8] {
        guard JSONSerialization.isValidJSONObject(object) else {
            throw EncodingFailure(description: "the response holds a value JSON cannot carry (an infinite or NaN number?)")
        }
        do {
            return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        } catch {
            throw EncodingFailure(description: "the response could not be encoded: \(error)")
        }
    }

    /// An error body; built from strings and integers only, so it always encodes.
    static func errorResponse(status: HTTPResponse.Status, error: String, detail: String, extra: [String: Any] = [:],
                              headers: HTTPFields = [:]) -> Response {
        var object: [String: Any] = extra
        object["error"] = error
        object["detail"] = detail
        let bytes = (try? encode(object)) ?? Array(#"{"detail":"the server could not answer","error":"internal_error"}"#.utf8)
        return bytesResponse(bytes, status: status, headers: headers)
    }
}
