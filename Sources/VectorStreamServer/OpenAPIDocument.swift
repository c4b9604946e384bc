import Foundation

/// The OpenAPI 3 description of every route; tests check it against the router and against the statuses the
/// server answers.
///
/// Generated per configuration: with an API key, the `/v1` operations carry the security requirement and their
/// 401 response; without one, neither (the server never answers 401 then). Every other status the server can
/// answer is declared: 400, 404 (unknown product), 413 and 415 (search body), 500, and 503 with `Retry-After`
/// (a dependency unavailable). 405 (with `Allow`) is the answer to a method the document does not list.
enum OpenAPIDocument {
    /// The document for a server that requires a key on `/v1` routes or does not.
    static func json(requiresKey: Bool, ingest: Bool = false) -> [UInt8] {
        guard var doc = (try? JSONSerialization.jsonObject(with: Data(template.utf8))) as? [String: Any],
              let console = (try? JSONSerialization.jsonObject(with: Data(consoleTemplate.utf8))) as? [String: Any]
        else {
            preconditionFailure("the OpenAPI template is not a JSON object")
        }
        // The console's routes and schemas (OpenAPIConsole.swift) join the rest.
        var paths = doc["paths"] as? [String: Any] ?? [:]
        paths.merge(console["paths"] as? [String: Any] ?? [:]) { a, _ in a }
        doc["paths"] = paths
        var components = doc["components"] as? [String: Any] ?? [:]
        var schemas = components["schemas"] as? [String: Any] ?? [:]
        schemas.merge(console["schemas"] as? [String: Any] ?? [:]) { a, _ in a }
        components["schemas"] = schemas
        // `POST /v1/ingest` only where the server ingests (IngestHandlers.swift).
        if ingest, let part = (try? JSONSerialization.jsonObject(with: Data(IngestHandlers.openAPI.utf8))) as? [String: Any] {
            paths.merge(part["paths"] as? [String: Any] ?? [:]) { a, _ in a }
            doc["paths"] = paths
            schemas.merge(part["schemas"] as? [String: Any] ?? [:]) { a, _ in a }
            components["schemas"] = schemas
        }
        doc["components"] = components
        var info = doc["info"] as? [String: Any] ?? [:]
        let description = info["description"] as? String ?? ""
        if requiresKey {
            info["description"] = description + " Every /v1 route requires the API key (Authorization: Bearer KEY or X-API-Key: KEY)."
        } else {
            var paths = doc["paths"] as? [String: Any] ?? [:]
            for (path, value) in paths {
                guard var operations = value as? [String: Any] else { continue }
                for (method, op) in operations {
                    guard var operation = op as? [String: Any] else { continue }
                    operation["security"] = nil
                    if var responses = operation["responses"] as? [String: Any] {
                        responses["401"] = nil
                        operation["responses"] = responses
                    }
                    operations[method] = operation
                }
                paths[path] = operations
            }
            doc["paths"] = paths
            if var components = doc["components"] as? [String: Any] {
                components["securitySchemes"] = nil
                doc["components"] = components
            }
        }
        doc["info"] = info
        guard let bytes = try? JSON.encode(doc) else { preconditionFailure("the OpenAPI document does not encode") }
        return bytes
    }

    static let template = #"""
{
 "openapi": "3.0.3",
 "info": {
  "title": "VectorStream API",
  "version": "1.0.0",
  "description": "Similar products, semantic search, recommendations and analytics over a real-time event-to-vector pipeline."
 },
 "paths": {
  "/health": {
   "get": {
    "summary": "Overall and per-dependency health",
    "operationId": "health",
    "responses": {
     "200": {
      "description": "healthy or degraded",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Health"
        }
       }
      }
     },
     "503": {
      "description": "a dependency is down",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Health"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/ready": {
   "get": {
    "summary": "Readiness for orchestration",
    "operationId": "ready",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Ready"
        }
       }
      }
     },
     "503": {
      "description": "not ready",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Ready"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus metrics",
    "operationId": "metrics",
    "responses": {
     "200": {
      "description": "Prometheus text format",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/status": {
   "get": {
    "summary": "Pipeline figures of this process and every worker in live state",
    "operationId": "status",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "summary": "This document",
    "operationId": "openapi",
    "responses": {
     "200": {
      "description": "OpenAPI 3 document",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     }
    }
   }
  },
  "/v1/search": {
   "post": {
    "summary": "Semantic product search",
    "operationId": "search",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/SearchRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SearchResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     }
    }
   }
  },
  "/v1/products/{id}/similar": {
   "get": {
    "summary": "Products nearest to this one, itself excluded",
    "operationId": "similarProducts",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 256,
       "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
      },
      "description": "percent-encoded in the path (UTF-8); 1 to 256 characters, no control characters"
     },
     {
      "name": "k",
      "in": "query",
      "required": false,
      "description": "number of results",
      "schema": {
       "type": "integer",
       "default": 10,
       "minimum": 1,
       "maximum": 100
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SimilarResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/users/{id}/recommendations": {
   "get": {
    "summary": "Recommendations from the user's recent views, carts and purchases; popular products without history",
    "operationId": "recommendations",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "parameters": [
     {
      "name": "id",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 256,
       "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
      },
      "description": "percent-encoded in the path (UTF-8); 1 to 256 characters, no control characters"
     },
     {
      "name": "k",
      "in": "query",
      "required": false,
      "description": "number of results",
      "schema": {
       "type": "integer",
       "default": 10,
       "minimum": 1,
       "maximum": 100
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/RecommendationResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/analytics/top-products": {
   "get": {
    "summary": "Most frequent products for an event type",
    "operationId": "topProducts",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "parameters": [
     {
      "name": "event_type",
      "in": "query",
      "required": false,
      "description": "event type",
      "schema": {
       "type": "string",
       "default": "purchase",
       "enum": [
        "view",
        "add_to_cart",
        "remove_from_cart",
        "purchase",
        "wishlist_add",
        "search"
       ]
      }
     },
     {
      "name": "minutes",
      "in": "query",
      "required": false,
      "description": "window in minutes, counting back from now",
      "schema": {
       "type": "integer",
       "default": 60,
       "minimum": 1,
       "maximum": 525600
      }
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "description": "rows",
      "schema": {
       "type": "integer",
       "default": 10,
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/TopProductsResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/analytics/funnel": {
   "get": {
    "summary": "Sessions that viewed, added to cart and purchased (distinct sessions), and conversion rates",
    "operationId": "funnel",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "parameters": [
     {
      "name": "minutes",
      "in": "query",
      "required": false,
      "description": "window in minutes, counting back from now",
      "schema": {
       "type": "integer",
       "default": 60,
       "minimum": 1,
       "maximum": 525600
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/FunnelResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/analytics/categories": {
   "get": {
    "summary": "Revenue and counts per category",
    "operationId": "categories",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "parameters": [
     {
      "name": "minutes",
      "in": "query",
      "required": false,
      "description": "window in minutes, counting back from now",
      "schema": {
       "type": "integer",
       "default": 60,
       "minimum": 1,
       "maximum": 525600
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/CategoriesResponse"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "500": {
      "$ref": "#/components/responses/InternalError"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  }
 },
 "components": {
  "securitySchemes": {
   "bearer": {
    "type": "http",
    "scheme": "bearer"
   },
   "apiKey": {
    "type": "apiKey",
    "in": "header",
    "name": "X-API-Key"
   }
  },
  "responses": {
   "Error": {
    "description": "Bad input (400), missing or wrong key (401), unknown product (404), body over the limit (413) or not JSON (415)",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "InternalError": {
    "description": "The server could not answer (logged), e.g. a figure JSON cannot carry",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Unavailable": {
    "description": "A dependency failed, did not answer within the read timeout, or its circuit breaker is open; retry after Retry-After seconds",
    "headers": {
     "Retry-After": {
      "description": "seconds until the dependency may be tried again (its breaker's next probe when open)",
      "schema": {
       "type": "integer",
       "minimum": 1
      }
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Unavailable"
      }
     }
    }
   }
  },
  "schemas": {
   "Error": {
    "type": "object",
    "required": [
     "error",
     "detail"
    ],
    "properties": {
     "error": {
      "type": "string"
     },
     "detail": {
      "type": "string"
     }
    }
   },
   "DependencyHealth": {
    "type": "object",
    "required": [
     "status"
    ],
    "properties": {
     "status": {
      "type": "string",
      "enum": [
       "ok",
       "degraded",
       "down"
      ]
     },
     "reason": {
      "type": "string"
     },
     "latency_ms": {
      "type": "number"
     }
    }
   },
   "Health": {
    "type": "object",
    "required": [
     "status",
     "dependencies",
     "breakers"
    ],
    "properties": {
     "status": {
      "type": "string",
      "enum": [
       "ok",
       "degraded",
       "down"
      ]
     },
     "dependencies": {
      "type": "object",
      "additionalProperties": {
       "$ref": "#/components/schemas/DependencyHealth"
      }
     },
     "breakers": {
      "type": "object",
      "additionalProperties": {
       "$ref": "#/components/schemas/Breaker"
      }
     }
    }
   },
   "Ready": {
    "type": "object",
    "required": [
     "ready"
    ],
    "properties": {
     "ready": {
      "type": "boolean"
     },
     "waiting_for": {
      "type": "array",
      "items": {
       "type": "string"
      }
     }
    }
   },
   "Status": {
    "type": "object",
    "properties": {
     "workers": {
      "type": "object",
      "nullable": true
     },
     "local": {
      "type": "object"
     },
     "vectors": {
      "type": "integer",
      "nullable": true
     },
     "model_version": {
      "type": "string"
     },
     "unavailable": {
      "type": "object",
      "description": "parts that could not be read within the read timeout, and why",
      "additionalProperties": {
       "type": "string"
      }
     }
    }
   },
   "SearchRequest": {
    "type": "object",
    "required": [
     "text"
    ],
    "properties": {
     "text": {
      "type": "string",
      "minLength": 1,
      "maxLength": 4096,
      "pattern": "\\S",
      "description": "at least one character that is not white space"
     },
     "k": {
      "type": "integer",
      "minimum": 1,
      "maximum": 100,
      "default": 10,
      "nullable": true
     },
     "filter": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
       "category": {
        "type": "string",
        "minLength": 1,
        "nullable": true,
        "description": "exact category; null or absent: any"
       },
       "min_price": {
        "type": "number",
        "minimum": 0,
        "nullable": true
       },
       "max_price": {
        "type": "number",
        "minimum": 0,
        "nullable": true
       }
      },
      "nullable": true
     }
    }
   },
   "SearchHit": {
    "type": "object",
    "required": [
     "product_id",
     "score",
     "name",
     "category",
     "price"
    ],
    "properties": {
     "product_id": {
      "type": "string"
     },
     "score": {
      "type": "number"
     },
     "name": {
      "type": "string"
     },
     "category": {
      "type": "string"
     },
     "price": {
      "type": "number"
     }
    }
   },
   "SearchResponse": {
    "type": "object",
    "required": [
     "query",
     "k",
     "results"
    ],
    "properties": {
     "query": {
      "type": "string"
     },
     "k": {
      "type": "integer"
     },
     "results": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SearchHit"
      }
     }
    }
   },
   "SimilarResponse": {
    "type": "object",
    "required": [
     "product_id",
     "k",
     "results"
    ],
    "properties": {
     "product_id": {
      "type": "string"
     },
     "k": {
      "type": "integer"
     },
     "results": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/SearchHit"
      }
     }
    }
   },
   "RecommendationResponse": {
    "type": "object",
    "required": [
     "user_id",
     "strategy",
     "results"
    ],
    "properties": {
     "user_id": {
      "type": "string"
     },
     "strategy": {
      "type": "string",
      "enum": [
       "personalized",
       "popular"
      ]
     },
     "based_on": {
      "type": "integer"
     },
     "results": {
      "type": "array",
      "description": "the same fields whatever the strategy; with popular, score is the product's count over the most popular one's (1 for the top)",
      "items": {
       "$ref": "#/components/schemas/SearchHit"
      }
     }
    }
   },
   "ProductCount": {
    "type": "object",
    "required": [
     "product_id",
     "name",
     "category",
     "count",
     "revenue"
    ],
    "properties": {
     "product_id": {
      "type": "string"
     },
     "name": {
      "type": "string"
     },
     "category": {
      "type": "string"
     },
     "count": {
      "type": "integer"
     },
     "revenue": {
      "type": "number"
     }
    }
   },
   "TopProductsResponse": {
    "type": "object",
    "required": [
     "event_type",
     "minutes",
     "results"
    ],
    "properties": {
     "event_type": {
      "type": "string"
     },
     "minutes": {
      "type": "integer"
     },
     "results": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/ProductCount"
      }
     }
    }
   },
   "FunnelResponse": {
    "type": "object",
    "description": "views, carts and purchases count distinct sessions (a session that viewed ten products counts once): sessions that viewed, added to cart, purchased",
    "required": [
     "minutes",
     "views",
     "carts",
     "purchases",
     "view_to_cart",
     "cart_to_purchase",
     "view_to_purchase"
    ],
    "properties": {
     "minutes": {
      "type": "integer"
     },
     "counts": {
      "type": "string",
      "enum": [
       "distinct sessions"
      ]
     },
     "views": {
      "type": "integer"
     },
     "carts": {
      "type": "integer"
     },
     "purchases": {
      "type": "integer"
     },
     "view_to_cart": {
      "type": "number"
     },
     "cart_to_purchase": {
      "type": "number"
     },
     "view_to_purchase": {
      "type": "number"
     }
    }
   },
   "CategoryStats": {
    "type": "object",
    "required": [
     "category",
     "events",
     "purchases",
     "revenue"
    ],
    "properties": {
     "category": {
      "type": "string"
     },
     "events": {
      "type": "integer"
     },
     "purchases": {
      "type": "integer"
     },
     "revenue": {
      "type": "number"
     }
    }
   },
   "CategoriesResponse": {
    "type": "object",
    "required": [
     "minutes",
     "results"
    ],
    "properties": {
     "minutes": {
      "type": "integer"
     },
     "results": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/CategoryStats"
      }
     }
    }
   },
   "Unavailable": {
    "type": "object",
    "required": [
     "error",
     "detail",
     "dependency",
     "retry_after_seconds"
    ],
    "properties": {
     "error": {
      "type": "string",
      "enum": [
       "dependency_unavailable"
      ]
     },
     "detail": {
      "type": "string"
     },
     "dependency": {
      "type": "string",
      "enum": [
       "vector_store",
       "analytics_store",
       "query_cache",
       "live_state",
       "dead_letters",
       "metrics_history"
      ]
     },
     "retry_after_seconds": {
      "type": "integer",
      "minimum": 1
     }
    }
   },
   "Breaker": {
    "type": "object",
    "required": [
     "state",
     "since",
     "consecutive_failures",
     "last_error",
     "last_latency_ms"
    ],
    "properties": {
     "state": {
      "type": "string",
      "enum": [
       "closed",
       "open",
       "half_open"
      ]
     },
     "since": {
      "type": "string",
      "format": "date-time"
     },
     "consecutive_failures": {
      "type": "integer"
     },
     "last_error": {
      "type": "string",
      "nullable": true
     },
     "last_latency_ms": {
      "type": "number",
      "nullable": true
     },
     "retry_after_ms": {
      "type": "number"
     }
    }
   }
  }
 }
}
"""#
}
