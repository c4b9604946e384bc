// Catalog files, row by row: RFC 4180 CSV (quotes, embedded newlines and quotes, UTF-8 BOM, CRLF) or JSON lines of
// products. Streaming: fed chunks of any size, so a file of any size is parsed in bounded memory.

/// Why one catalog row was refused. Each case names the field or the problem precisely.
public enum CatalogRowError: Error, Sendable, Hashable, CustomStringConvertible {
    case missingField(String)
    case emptyField(String)
    case badPrice(String)
    case priceTooHigh(String, limit: Double)
    case textTooLong(field: String, bytes: Int, limit: Int)
    case duplicateID(String, firstRow: Int)
    case raggedRow(fields: Int, expected: Int)
    case unterminatedQuote
    case badQuoting(String)
    case invalidUTF8(field: String)
    case rowTooLarge(bytes: Int, limit: Int)
    case notJSON(String)
    case notAnObject
    case wrongType(field: String, expected: String)

    /// Stable, low-cardinality code (counted per file as `rejected_by_code`).
    public var code: String {
        switch self {
        case .missingField: "missing_field"
        case .emptyField: "empty_field"
        case .badPrice: "bad_price"
        case .priceTooHigh: "price_too_high"
        case .textTooLong: "text_too_long"
        case .duplicateID: "duplicate_id"
        case .raggedRow: "ragged_row"
        case .unterminatedQuote, .badQuoting: "bad_quoting"
        case .invalidUTF8: "invalid_utf8"
        case .rowTooLarge: "row_too_large"
        case .notJSON: "not_json"
        case .notAnObject: "not_an_object"
        case .wrongType: "wrong_type"
        }
    }

    public var description: String {
        switch self {
        case .missingField(let f): "missing field '\(f)'"
        case .emptyField(let f): "field '\(f)' is empty"
        case .badPrice(let v): "price '\(v)' is not a finite decimal number >= 0"
        case .priceTooHigh(let v, let limit): "price \(v) is above the limit of \(limit) (pipeline.max_price)"
        case .textTooLong(let f, let bytes, let limit): "field '\(f)' is \(bytes) bytes, over the limit of \(limit) (pipeline.max_text_bytes)"
        case .duplicateID(let id, let first): "duplicate id '\(id)' in this file (first at row \(first); that row is kept)"
        case .raggedRow(let n, let expected): "row has \(n) fields; the header has \(expected)"
        case .unterminatedQuote: "a quoted field is not closed before the end of the file"
        case .badQuoting(let detail): "bad quoting: \(detail)"
        case .invalidUTF8(let f): "field '\(f)' is not valid UTF-8"
        case .rowTooLarge(let bytes, let limit): "row is at least \(bytes) bytes, over the limit of \(limit) (pipeline.max_record_bytes)"
        case .notJSON(let detail): "not JSON: \(detail)"
        case .notAnObject: "not a JSON object"
        case .wrongType(let f, let expected): "field '\(f)' must be \(expected)"
        }
    }
}

/// A problem with the whole file (the file fails; no row is processed).
public struct CatalogFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One data row: where it is and what it gave.
public struct CatalogRow: Sendable, Hashable {
    /// 1-based data row (CSV: the header is row 0; JSON lines: the line number).
    public var row: Int
    /// Physical line where it starts.
    public var line: Int
    public var result: Result<Product, CatalogRowError>
}

public enum CatalogFormat: String, Sendable, Hashable {
    case csv
    case jsonLines = "jsonl"

    /// From the file name's extension, then the content type, then the first byte (`{` is JSON lines).
    public static func detect(name: String, contentType: String, firstBytes: some Collection<UInt8>) -> CatalogFormat {
        let lower = name.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".json") { return .jsonLines }
        let type = contentType.lowercased()
        if type.contains("csv") { return .csv }
        if type.contains("ndjson") || type.contains("jsonl") || type.contains("json") { return .jsonLines }
        var bytes = Array(firstBytes.prefix(64))
        if bytes.starts(with: CSVReader.byteOrderMark) { bytes.removeFirst(3) }
        let first = bytes.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        return first == UInt8(ascii: "{") ? .jsonLines : .csv
    }
}

/// RFC 4180 records from bytes fed in chunks: `,` separates fields, CRLF or LF ends a record (a lone CR too),
/// `"` quotes a field (`""` is a quote; commas and line breaks inside quotes are data). A UTF-8 byte order mark
/// at the very start is skipped. Blank lines are skipped. Format errors are per record, never per file.
public struct CSVReader: Sendable {
    public struct Record: Sendable, Hashable {
        public var fields: [[UInt8]]
        public var line: Int
        public var error: CatalogRowError?
    }

    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Most bytes one record may hold; beyond it the record is refused (and not kept in memory).
    public let maxRecordBytes: Int
    private var fields: [[UInt8]] = []
    private var field: [UInt8] = []
    private var inQuotes = false
    private var afterQuote = false
    /// The current field started with a quote that is now closed: only a separator may follow.
    private var quotedClosed = false
    private var pendingCR = false
    private var recordBytes = 0
    private var recordError: CatalogRowError?
    private var line = 1
    private var recordLine = 1
    private var started = false
    private var bomChecked = false
    private var bomHeld: [UInt8] = []

    public init(maxRecordBytes: Int = 64 * 1024) { self.maxRecordBytes = maxRecordBytes }

    /// Parses `bytes` and returns the records completed by them.
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [Record] {
        var out: [Record] = []
        for b in bytes {
            if !bomChecked {
                // The mark may arrive split over chunks: hold its bytes until it is complete or ruled out.
                bomHeld.append(b)
                if Self.byteOrderMark.starts(with: bomHeld) {
                    if bomHeld.count == 3 { bomChecked = true; bomHeld = [] }
                    continue
                }
                bomChecked = true
                let held = bomHeld
                bomHeld = []
                for h in held { step(h, &out) }
                continue
            }
            step(b, &out)
        }
        return out
    }

    /// Ends the input: returns the last record when it had no line break.
    public mutating func finish() -> [Record] {
        var out: [Record] = []
        if !bomChecked {
            bomChecked = true
            let held = bomHeld
            bomHeld = []
            for h in held { step(h, &out) }
        }
        if inQuotes && !afterQuote {
            if recordError == nil { recordError = .unterminatedQuote }
            inQuotes = false
            endRecord(&out)
        } else if started || !field.isEmpty || !fields.isEmpty || afterQuote {
            inQuotes = false
            afterQuote = false
            endRecord(&out)
        }
        return out
    }

    @inline(__always) private mutating func append(_ b: UInt8) {
        recordBytes += 1
        if recordBytes > maxRecordBytes {
            if recordError == nil || recordError?.code != "row_too_large" {
                recordError = .rowTooLarge(bytes: recordBytes, limit: maxRecordBytes)
            }
            return
        }
        field.append(b)
    }

    private mutating func step(_ b: UInt8, _ out: inout [Record]) {
        if b == 0x0A { line += 1 }
        if pendingCR {
            pendingCR = false
            if b == 0x0A { return }
        }
        if !started {
            started = true
            recordLine = b == 0x0A ? line - 1 : line
        }
        if inQuotes {
            if afterQuote {
                afterQuote = false
                if b == UInt8(ascii: "\"") { append(b); return }
                inQuotes = false
                quotedClosed = true
                // The closing quote is confirmed; `b` is handled as outside quotes below.
            } else if b == UInt8(ascii: "\"") {
                afterQuote = true
                return
            } else {
                append(b)
                return
            }
        }
        switch b {
        case UInt8(ascii: ","):
            endField()
        case 0x0D:
            endRecord(&out)
            pendingCR = true
        case 0x0A:
            endRecord(&out)
        case UInt8(ascii: "\""):
            if field.isEmpty && !quotedClosed {
                inQuotes = true
            } else {
                if recordError == nil { recordError = .badQuoting("a quote inside an unquoted field (field \(fields.count + 1)); quote the field and double the quote") }
                append(b)
            }
        default:
            if quotedClosed, recordError == nil {
                recordError = .badQuoting("a character after the closing quote of field \(fields.count + 1)")
            }
            append(b)
        }
    }

    private mutating func endField() {
        fields.append(field)
        field = []
        quotedClosed = false
    }

    private mutating func endRecord(_ out: inout [Record]) {
        let blank = fields.isEmpty && field.isEmpty && !quotedClosed && recordError == nil
        endField()
        if !blank {
            out.append(Record(fields: fields, line: recordLine, error: recordError))
        }
        fields = []
        recordBytes = 0
        recordError = nil
        started = false
    }
}

/// Turns a catalog file's bytes into validated rows: the CSV header decides the columns (any order, any extra
/// columns ignored); each row is checked like the stream's products (same limits), plus duplicate ids in the file.
public struct CatalogRowReader: Sendable {
    public static let requiredColumns = ["id", "name", "description", "category", "price"]

    public let format: CatalogFormat
    public let limits: ValidationLimits
    private var csv: CSVReader
    private var columns: [String: Int]?
    private var headerWidth = 0
    private var dataRows = 0
    /// First row of each id seen, to refuse duplicates within the file.
    private var seen: [String: Int] = [:]
    private var lineBuffer: [UInt8] = []
    private var lineNumber = 0
    private var lineTooLarge = false
    private var jsonBOMSeen = 0

    public init(format: CatalogFormat, limits: ValidationLimits = ValidationLimits()) {
        self.format = format
        self.limits = limits
        csv = CSVReader(maxRecordBytes: limits.maxRecordBytes)
    }

    /// The rows completed by `bytes`. Throws `CatalogFileError` when the CSV header is unusable.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws -> [CatalogRow] {
        switch format {
        case .csv: return try csvRows(csv.feed(bytes))
        case .jsonLines: return jsonFeed(bytes, final: false)
        }
    }

    /// The last rows; throws when the file held no CSV header at all.
    public mutating func finish() throws -> [CatalogRow] {
        switch format {
        case .csv:
            let rows = try csvRows(csv.finish())
            if columns == nil {
                throw CatalogFileError("the file is empty: a catalog CSV starts with the header row "
                                       + Self.requiredColumns.joined(separator: ","))
            }
            return rows
        case .jsonLines: return jsonFeed([], final: true)
        }
    }

    private mutating func csvRows(_ records: [CSVReader.Record]) throws -> [CatalogRow] {
        var rows: [CatalogRow] = []
        rows.reserveCapacity(records.count)
        for record in records {
            guard let columns else {
                try readHeader(record)
                continue
            }
            dataRows += 1
            rows.append(CatalogRow(row: dataRows, line: record.line, result: csvProduct(record, columns)))
        }
        return rows
    }

    private mutating func readHeader(_ record: CSVReader.Record) throws {
        if let error = record.error { throw CatalogFileError("the header row is unusable: \(error)") }
        var found: [String: Int] = [:]
        for (index, bytes) in record.fields.enumerated() {
            let name = String(decoding: bytes, as: UTF8.self)
                .trimmingSpaces.lowercased()
            if Self.requiredColumns.contains(name), found[name] != nil {
                throw CatalogFileError("the header names column '\(name)' twice")
            }
            if found[name] == nil { found[name] = index }
        }
        let missing = Self.requiredColumns.filter { found[$0] == nil }
        if !missing.isEmpty {
            let seenNames = record.fields.map { String(decoding: $0.prefix(40), as: UTF8.self) }
            throw CatalogFileError("the header lacks column\(missing.count == 1 ? "" : "s") \(missing.map { "'\($0)'" }.joined(separator: ", ")) "
                                   + "(it has \(seenNames.map { "'\($0)'" }.joined(separator: ", ")); a catalog CSV needs "
                                   + Self.requiredColumns.joined(separator: ",") + ")")
        }
        columns = found
        headerWidth = record.fields.count
    }

    private mutating func csvProduct(_ record: CSVReader.Record, _ columns: [String: Int]) -> Result<Product, CatalogRowError> {
        if let error = record.error { return .failure(error) }
        guard record.fields.count == headerWidth else {
            return .failure(.raggedRow(fields: record.fields.count, expected: headerWidth))
        }
        var texts: [String: String] = [:]
        for name in Self.requiredColumns {
            guard let text = String(validating: record.fields[columns[name]!], as: UTF8.self) else {
                return .failure(.invalidUTF8(field: name))
            }
            texts[name] = text
        }
        let price = texts["price"]!.trimmingSpaces
        guard !price.isEmpty else { return .failure(.emptyField("price")) }
        guard Self.isDecimal(price), let value = Double(price) else { return .failure(.badPrice(String(price.prefix(40)))) }
        return validate(id: texts["id"], name: texts["name"], description: texts["description"],
                        category: texts["category"], price: value, priceText: price, row: dataRows)
    }

    /// Digits with an optional sign, point and exponent (no hex, no `inf`/`nan`, no thousands separators).
    static func isDecimal(_ text: String) -> Bool {
        var digits = 0
        for c in text.utf8 {
            switch c {
            case 0x30...0x39: digits += 1
            case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "e"), UInt8(ascii: "E"): break
            default: return false
            }
        }
        return digits > 0
    }

    /// The stream's product rules (EventParser) plus uniqueness of the id within this file.
    private mutating func validate(id: String?, name: String?, description: String?, category: String?,
                                   price: Double?, priceText: String, row: Int) -> Result<Product, CatalogRowError> {
        func text(_ value: String?, _ field: String, allowEmpty: Bool = false) -> Result<String, CatalogRowError> {
            guard let value else { return .failure(.missingField(field)) }
            if value.utf8.count > limits.maxTextBytes {
                return .failure(.textTooLong(field: field, bytes: value.utf8.count, limit: limits.maxTextBytes))
            }
            if !allowEmpty && value.allSatisfy({ $0 == " " || $0 == "\t" }) { return .failure(.emptyField(field)) }
            return .success(value)
        }
        let product: Product
        switch (text(id, "id"), text(name, "name"), text(description, "description", allowEmpty: true), text(category, "category")) {
        case (.failure(let e), _, _, _), (_, .failure(let e), _, _), (_, _, .failure(let e), _), (_, _, _, .failure(let e)):
            return .failure(e)
        case (.success(let i), .success(let n), .success(let d), .success(let c)):
            guard let price else { return .failure(.missingField("price")) }
            guard price.isFinite, price >= 0 else { return .failure(.badPrice(String(priceText.prefix(40)))) }
            guard price <= limits.maxPrice else { return .failure(.priceTooHigh(String(priceText.prefix(40)), limit: limits.maxPrice)) }
            product = Product(id: i, name: n, description: d, category: c, price: price)
        }
        if let first = seen[product.id] { return .failure(.duplicateID(String(product.id.prefix(80)), firstRow: first)) }
        seen[product.id] = row
        return .success(product)
    }

    // MARK: JSON lines

    private mutating func jsonFeed(_ bytes: some Collection<UInt8>, final: Bool) -> [CatalogRow] {
        var rows: [CatalogRow] = []
        for b in bytes {
            if jsonBOMSeen < 3 {
                // A byte order mark at the very start is skipped, even split over chunks; bytes of a partial
                // mark are data (and make the line not JSON).
                if b == CSVReader.byteOrderMark[jsonBOMSeen] && lineNumber == 0 && lineBuffer.count == jsonBOMSeen {
                    jsonBOMSeen += 1
                    lineBuffer.append(b)
                    if jsonBOMSeen == 3 { lineBuffer.removeAll() }
                    continue
                }
                jsonBOMSeen = 3
            }
            if b == 0x0A {
                endLine(&rows)
            } else if lineBuffer.count < limits.maxRecordBytes + 1 {
                lineBuffer.append(b)
            } else {
                lineTooLarge = true
            }
        }
        if final, !lineBuffer.isEmpty || lineTooLarge { endLine(&rows) }
        return rows
    }

    private mutating func endLine(_ rows: inout [CatalogRow]) {
        lineNumber += 1
        defer {
            lineBuffer.removeAll(keepingCapacity: true)
            lineTooLarge = false
        }
        if lineBuffer.last == 0x0D { lineBuffer.removeLast() }
        if !lineTooLarge, lineBuffer.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        let result: Result<Product, CatalogRowError>
        if lineTooLarge || lineBuffer.count > limits.maxRecordBytes {
            result = .failure(.rowTooLarge(bytes: lineBuffer.count, limit: limits.maxRecordBytes))
        } else {
            result = jsonProduct(lineBuffer)
        }
        rows.append(CatalogRow(row: lineNumber, line: lineNumber, result: result))
    }

    private mutating func jsonProduct(_ bytes: [UInt8]) -> Result<Product, CatalogRowError> {
        var id: String?, name: String?, description: String?, category: String?
        var price: Double?
        var priceText = ""
        let parsed: CatalogRowError? = bytes.withUnsafeBufferPointer { buffer in
            var s = JSONScanner(buffer)
            do {
                s.skipWhitespace()
                guard s.peek() == UInt8(ascii: "{") else {
                    try s.skipValue()
                    s.skipWhitespace()
                    return s.atEnd ? .notAnObject : .notJSON(s.errorText("trailing characters"))
                }
                var typeError: CatalogRowError?
                try s.parseObject { key, s in
                    func string(_ field: String) throws -> String? {
                        guard s.peek() == UInt8(ascii: "\"") else {
                            try s.skipValue()
                            if typeError == nil { typeError = .wrongType(field: field, expected: "a string") }
                            return nil
                        }
                        return try s.string()
                    }
                    switch key {
                    case "id": id = try string("id")
                    case "name": name = try string("name")
                    case "description": description = try string("description")
                    case "category": category = try string("category")
                    case "price":
                        let start = s.index
                        if let value = try s.number() {
                            price = value
                            priceText = String(decoding: s.buffer[start..<s.index], as: UTF8.self)
                        } else {
                            try s.skipValue()
                            if typeError == nil { typeError = .wrongType(field: "price", expected: "a number") }
                        }
                    default: try s.skipValue()
                    }
                }
                s.skipWhitespace()
                if !s.atEnd { return .notJSON(s.errorText("trailing characters after the object")) }
                return typeError
            } catch let error as ValidationError {
                if case .notJSON(let detail) = error { return .notJSON(detail) }
                return .notJSON(error.description)
            } catch {
                return .notJSON("\(error)")
            }
        }
        if let parsed { return .failure(parsed) }
        return validate(id: id, name: name, description: description, category: category, price: price,
                        priceText: priceText, row: lineNumber)
    }
}
