/// The OpenAPI 3 description of every route; a test checks it against the router.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.0.3",
 "info": {
  "title": "VectorStream API",
  "version": "1.0.0",
  "description": "Similar products, semantic search, recommendations and analytics over a real-time event-to-vector pipeline. When VECTORSTREAM_API_KEY is set, every /v1 route requires it."
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
       "maxLength": 256
      }
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
       "maxLength": 256
      }
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
     }
    }
   }
  },
  "/v1/analytics/funnel": {
   "get": {
    "summary": "Views, carts, purchases and conversion rates",
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
    "description": "Bad input, missing key, unknown id or a body over the limit",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
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
     }
    }
   },
   "Health": {
    "type": "object",
    "required": [
     "status",
     "dependencies"
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
      "type": "object"
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
      "maxLength": 4096
     },
     "k": {
      "type": "integer",
      "minimum": 1,
      "maximum": 100,
      "default": 10
     },
     "filter": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
       "category": {
        "type": "string"
       },
       "min_price": {
        "type": "number",
        "minimum": 0
       },
       "max_price": {
        "type": "number",
        "minimum": 0
       }
      }
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
      "items": {
       "type": "object"
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
   }
  }
 }
}
"""#
}
