/// The console's routes in the OpenAPI document: `/v1/overview`, `/v1/dead-letters`, `/v1/metrics/history`, and
/// their schemas (merged into the document by ``OpenAPIDocument/json(requiresKey:)``).
extension OpenAPIDocument {
    static let consoleTemplate = #"""
{
 "paths": {
  "/v1/overview": {
   "get": {
    "summary": "What the console shows besides time series: dependencies' health, stores, embedder, workers, the pipeline's windowed figures",
    "operationId": "overview",
    "security": [
     {
      "bearer": []
     },
     {
      "apiKey": []
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Overview"
        }
       }
      }
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
  "/v1/dead-letters": {
   "get": {
    "summary": "Rejected records, newest first, with their reason, source position and an excerpt; paged by cursor",
    "operationId": "deadLetters",
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
      "name": "reason",
      "in": "query",
      "required": false,
      "description": "only this reason code (a key of counts); empty or absent: every reason",
      "schema": {
       "type": "string",
       "maxLength": 64,
       "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
      }
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "description": "samples per page",
      "schema": {
       "type": "integer",
       "default": 20,
       "minimum": 1,
       "maximum": 200
      }
     },
     {
      "name": "before",
      "in": "query",
      "required": false,
      "description": "the next cursor of a previous page: rejected-at milliseconds, partition, offset and topic, joined by dots",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 512,
       "pattern": "^-?[0-9]{1,18}\\.-?[0-9]{1,9}\\.-?[0-9]{1,18}\\..*$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/DeadLetterPage"
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
  "/v1/metrics/history": {
   "get": {
    "summary": "A pipeline figure over time, in buckets, per worker or over all workers (from the metrics history)",
    "operationId": "metricsHistory",
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
      "name": "metric",
      "in": "query",
      "required": true,
      "description": "the figure: rates from cumulative counters (events/s, products/s), one-minute latency (ms), consumer lag (messages)",
      "schema": {
       "type": "string",
       "enum": [
        "events_in_per_second",
        "events_stored_per_second",
        "events_rejected_per_second",
        "products_embedded_per_second",
        "latency_p50_ms",
        "latency_p99_ms",
        "consumer_lag"
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
       "maximum": 10080
      }
     },
     {
      "name": "step",
      "in": "query",
      "required": false,
      "description": "bucket width in seconds (default: about 120 buckets, rounded up to 1, 2, 5, 10 or 15 s, 1, 2, 5, 10, 15 or 30 min, or 1, 2, 3, 6, 12 or 24 h); at most 2000 buckets",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 86400
      }
     },
     {
      "name": "worker",
      "in": "query",
      "required": false,
      "description": "one worker (default: all, summed; latency: p50 the mean, p99 the highest)",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 256,
       "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/MetricsHistory"
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
 "schemas": {
  "Overview": {
   "type": "object",
   "required": [
    "generated_at",
    "model_version",
    "checks",
    "breakers",
    "stores",
    "dead_letters_by_reason",
    "embedder",
    "workers",
    "pipeline"
   ],
   "properties": {
    "generated_at": {
     "type": "string",
     "format": "date-time"
    },
    "model_version": {
     "type": "string"
    },
    "checks": {
     "type": "object",
     "description": "each health check: its state, the latency of this check, the backend's reason when not ok, and since when it has been in this state (as seen by this server)",
     "additionalProperties": {
      "type": "object",
      "required": [
       "status",
       "reason",
       "latency_ms",
       "since"
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
        "type": "string",
        "nullable": true
       },
       "latency_ms": {
        "type": "number"
       },
       "since": {
        "type": "string",
        "format": "date-time"
       }
      }
     }
    },
    "breakers": {
     "type": "object",
     "additionalProperties": {
      "$ref": "#/components/schemas/Breaker"
     }
    },
    "stores": {
     "type": "object",
     "required": [
      "events",
      "vectors",
      "dead_letters",
      "embedded_bytes_in_use",
      "embedded_bytes_on_disk"
     ],
     "properties": {
      "events": {
       "type": "integer",
       "nullable": true
      },
      "vectors": {
       "type": "integer",
       "nullable": true
      },
      "dead_letters": {
       "type": "integer",
       "nullable": true
      },
      "embedded_bytes_in_use": {
       "type": "integer",
       "nullable": true
      },
      "embedded_bytes_on_disk": {
       "type": "integer",
       "nullable": true
      }
     }
    },
    "dead_letters_by_reason": {
     "type": "object",
     "additionalProperties": {
      "type": "integer"
     }
    },
    "embedder": {
     "type": "object",
     "required": [
      "model_version",
      "dimension",
      "precision",
      "matrix_kernel",
      "sentences_embedded",
      "sentences_per_second"
     ],
     "properties": {
      "model_version": {
       "type": "string"
      },
      "dimension": {
       "type": "integer"
      },
      "precision": {
       "type": "string",
       "nullable": true
      },
      "matrix_kernel": {
       "type": "string",
       "nullable": true
      },
      "sentences_embedded": {
       "type": "integer",
       "nullable": true
      },
      "sentences_per_second": {
       "type": "number",
       "nullable": true,
       "description": "sentences per second while the embedder was busy (this process)"
      }
     }
    },
    "workers": {
     "type": "object",
     "additionalProperties": {
      "type": "object",
      "required": [
       "partitions",
       "lag_by_partition",
       "lag",
       "last_heartbeat",
       "heartbeat_age_seconds",
       "stale"
      ],
      "properties": {
       "partitions": {
        "type": "array",
        "items": {
         "type": "string"
        }
       },
       "lag_by_partition": {
        "type": "object",
        "additionalProperties": {
         "type": "integer"
        }
       },
       "lag": {
        "type": "integer"
       },
       "last_heartbeat": {
        "type": "string",
        "format": "date-time",
        "nullable": true
       },
       "heartbeat_age_seconds": {
        "type": "number",
        "nullable": true
       },
       "stale": {
        "type": "boolean"
       },
       "events_total": {
        "type": "integer"
       },
       "events_stored": {
        "type": "integer"
       },
       "events_rejected": {
        "type": "integer"
       },
       "recent_events_per_second": {
        "type": "number"
       },
       "recent_stored_per_second": {
        "type": "number"
       },
       "recent_rejected_per_second": {
        "type": "number"
       },
       "recent_latency_p50_ms": {
        "type": "number"
       },
       "recent_latency_p99_ms": {
        "type": "number"
       }
      }
     }
    },
    "pipeline": {
     "type": "object",
     "description": "windowed figures over all workers: rates and lag summed, latency the highest",
     "properties": {
      "workers": {
       "type": "integer"
      },
      "events_total": {
       "type": "integer"
      },
      "events_stored": {
       "type": "integer"
      },
      "events_rejected": {
       "type": "integer"
      },
      "events_deduplicated": {
       "type": "integer"
      },
      "products_embedded": {
       "type": "integer"
      },
      "recent_window_seconds": {
       "type": "number"
      },
      "recent_events_per_second": {
       "type": "number"
      },
      "recent_stored_per_second": {
       "type": "number"
      },
      "recent_rejected_per_second": {
       "type": "number"
      },
      "recent_latency_p50_ms": {
       "type": "number"
      },
      "recent_latency_p99_ms": {
       "type": "number"
      },
      "recent_stage_ms": {
       "type": "object",
       "additionalProperties": {
        "type": "object",
        "required": [
         "p50_ms",
         "p99_ms",
         "batches"
        ],
        "properties": {
         "p50_ms": {
          "type": "number"
         },
         "p99_ms": {
          "type": "number"
         },
         "batches": {
          "type": "integer"
         }
        }
       }
      },
      "lag_by_partition": {
       "type": "object",
       "additionalProperties": {
        "type": "integer"
       }
      },
      "lag": {
       "type": "integer"
      }
     }
    },
    "unavailable": {
     "type": "object",
     "additionalProperties": {
      "type": "string"
     }
    }
   }
  },
  "DeadLetter": {
   "type": "object",
   "required": [
    "code",
    "reason",
    "position",
    "rejected_at",
    "bytes",
    "excerpt"
   ],
   "properties": {
    "code": {
     "type": "string",
     "description": "reason code"
    },
    "reason": {
     "type": "string",
     "description": "what was wrong, precisely"
    },
    "position": {
     "type": "object",
     "required": [
      "topic",
      "partition",
      "offset"
     ],
     "properties": {
      "topic": {
       "type": "string"
      },
      "partition": {
       "type": "integer"
      },
      "offset": {
       "type": "integer"
      }
     }
    },
    "rejected_at": {
     "type": "integer",
     "description": "epoch milliseconds"
    },
    "bytes": {
     "type": "integer",
     "description": "the record's size"
    },
    "excerpt": {
     "type": "string",
     "description": "the first 512 bytes of the raw record, as text"
    }
   }
  },
  "DeadLetterPage": {
   "type": "object",
   "required": [
    "items",
    "next",
    "counts",
    "reason"
   ],
   "properties": {
    "items": {
     "type": "array",
     "items": {
      "$ref": "#/components/schemas/DeadLetter"
     }
    },
    "next": {
     "type": "string",
     "nullable": true,
     "description": "pass as before= for the next page; null on the last"
    },
    "counts": {
     "type": "object",
     "description": "dead letters kept, per reason code",
     "additionalProperties": {
      "type": "integer"
     }
    },
    "reason": {
     "type": "string",
     "nullable": true
    }
   }
  },
  "MetricsHistory": {
   "type": "object",
   "required": [
    "metric",
    "unit",
    "minutes",
    "step",
    "worker",
    "workers",
    "source",
    "from",
    "to",
    "points"
   ],
   "properties": {
    "metric": {
     "type": "string",
     "enum": [
      "events_in_per_second",
      "events_stored_per_second",
      "events_rejected_per_second",
      "products_embedded_per_second",
      "latency_p50_ms",
      "latency_p99_ms",
      "consumer_lag"
     ]
    },
    "unit": {
     "type": "string",
     "enum": [
      "events/s",
      "products/s",
      "ms",
      "messages"
     ]
    },
    "minutes": {
     "type": "integer"
    },
    "step": {
     "type": "integer",
     "description": "bucket width in seconds"
    },
    "worker": {
     "type": "string",
     "nullable": true
    },
    "workers": {
     "type": "array",
     "items": {
      "type": "string"
     }
    },
    "source": {
     "type": "string",
     "description": "sqlite, postgresql, or none"
    },
    "from": {
     "type": "integer",
     "description": "epoch milliseconds, start of the first bucket"
    },
    "to": {
     "type": "integer"
    },
    "points": {
     "type": "array",
     "items": {
      "type": "object",
      "required": [
       "t",
       "value"
      ],
      "properties": {
       "t": {
        "type": "integer",
        "description": "bucket start, epoch milliseconds"
       },
       "value": {
        "type": "number",
        "nullable": true,
        "description": "null: no worker published in this bucket"
       }
      }
     }
    }
   }
  }
 }
}
"""#
}
