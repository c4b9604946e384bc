import Testing
import VectorStreamCore

/// Catalog rows from CSV (RFC 4180) and JSON lines: every row either a product or a precise reason.
@Suite("Files: catalog parsing")
struct FilesCatalogParsingTests {
    /// All rows of `text` fed in pieces of `chunk` bytes (chunk boundaries anywhere must not matter).
    static func rows(_ text: String, format: CatalogFormat = .csv, chunk: Int = 1_000_000,
                     limits: ValidationLimits = ValidationLimits()) throws -> [CatalogRow] {
        let bytes = Array(text.utf8)
        return try rows(bytes, format: format, chunk: chunk, limits: limits)
    }

    static func rows(_ bytes: [UInt8], format: CatalogFormat = .csv, chunk: Int = 1_000_000,
                     limits: ValidationLimits = ValidationLimits()) throws -> [CatalogRow] {
        var reader = CatalogRowReader(format: format, limits: limits)
        var out: [CatalogRow] = []
        var start = 0
        while start < bytes.count {
            let end = min(start + chunk, bytes.count)
            out += try reader.feed(bytes[start..<end])
            start = end
        }
        return out + (try reader.finish())
    }

    static let header = "id,name,description,category,price\r\n"

    @Test(arguments: [1, 2, 3, 7, 1_000_000])
    func quotesEmbeddedNewlinesCRLFAndBOMInAnyChunking(chunk: Int) throws {
        let text = "\u{FEFF}" + Self.header
            + "p-1,\"Tent, 2 person\",\"Line one\r\nline \"\"two\"\"\",outdoor,199.5\r\n"
            + "p-2,Mug,,kitchen,3\n"
            + "\r\n"
            + "p-3,\"Ünïcode ☕\",\"a\nb\",kitchen,0"
        let rows = try Self.rows(text, chunk: chunk)
        #expect(rows.count == 3)
        let products = rows.compactMap { try? $0.result.get() }
        #expect(products.map(\.id) == ["p-1", "p-2", "p-3"])
        #expect(products[0].name == "Tent, 2 person")
        #expect(products[0].description == "Line one\r\nline \"two\"")
        #expect(products[0].price == 199.5)
        #expect(products[1].description == "")
        #expect(products[2].name == "Ünïcode ☕")
        #expect(products[2].description == "a\nb")
        // Rows are counted without the header; lines are physical (the first row's quoted newline moves row 2).
        #expect(rows.map(\.row) == [1, 2, 3])
        #expect(rows.map(\.line) == [2, 4, 6])
    }

    @Test func headerColumnsInAnyOrderWithExtrasAndCaseIgnored() throws {
        let rows = try Self.rows("Price, SKU ,category,ID,name,description\n12.5,x,toys,t-1,Ball,Red ball\n")
        let product = try rows[0].result.get()
        #expect(product == Product(id: "t-1", name: "Ball", description: "Red ball", category: "toys", price: 12.5))
    }

    @Test func aMissingHeaderColumnFailsTheFileNamingIt() throws {
        #expect(throws: CatalogFileError.self) { try Self.rows("id,name,category,price\nx,y,z,1\n") }
        do {
            _ = try Self.rows("id,name,category,price\nx,y,z,1\n")
        } catch let error as CatalogFileError {
            #expect(error.description.contains("'description'"))
        }
        #expect(throws: CatalogFileError.self) { try Self.rows("") }
        #expect(throws: CatalogFileError.self) { try Self.rows("id,id,name,description,category,price\n") }
    }

    @Test func everyBadRowHasItsPreciseReason() throws {
        let long = String(repeating: "x", count: 100)
        let text = Self.header
            + "a,Name,Desc,cat,12\n"           // 1 ok
            + "b,Name,Desc,cat\n"              // 2 ragged
            + ",Name,Desc,cat,1\n"             // 3 empty id
            + "c,Name,Desc,cat,12,50\n"        // 4 ragged (a comma in the price)
            + "d,Name,Desc,cat,$12\n"          // 5 bad price
            + "e,Name,Desc,cat,-1\n"           // 6 negative
            + "f,Name,Desc,cat,1e12\n"         // 7 above the limit
            + "g,\(long),Desc,cat,1\n"         // 8 too long
            + "a,Other,Desc,cat,2\n"           // 9 duplicate of row 1
            + "h,Na\"me,Desc,cat,1\n"          // 10 quote inside an unquoted field
            + "i,\"Name\"x,Desc,cat,1\n"       // 11 character after the closing quote
            + "j,Name,Desc,,1\n"               // 12 empty category
            + "k,Name,Desc,cat,inf\n"          // 13 not a decimal
            + "l,Name,Desc,cat,0x10\n"         // 14 hex is not a price
            + "m,Name,Desc,cat,\n"             // 15 empty price
            + "n,\"never closed,Desc,cat,1\n"  // 16 unterminated (runs to the end)
        let rows = try Self.rows(text, limits: ValidationLimits(maxTextBytes: 64, maxPrice: 1e9))
        let codes = rows.map { row -> String in
            switch row.result {
            case .success: "ok"
            case .failure(let e): e.code
            }
        }
        #expect(codes == ["ok", "ragged_row", "empty_field", "ragged_row", "bad_price", "bad_price", "price_too_high",
                          "text_too_long", "duplicate_id", "bad_quoting", "bad_quoting", "empty_field", "bad_price",
                          "bad_price", "empty_field", "bad_quoting"])
        func reason(_ i: Int) -> String {
            if case .failure(let e) = rows[i].result { return e.description }
            return ""
        }
        #expect(reason(1) == "row has 4 fields; the header has 5")
        #expect(reason(2) == "field 'id' is empty")
        #expect(reason(4) == "price '$12' is not a finite decimal number >= 0")
        #expect(reason(7).hasPrefix("field 'name' is 100 bytes, over the limit of 64"))
        #expect(reason(8) == "duplicate id 'a' in this file (first at row 1; that row is kept)")
        #expect(reason(15) == "a quoted field is not closed before the end of the file")
        #expect(rows.map(\.row) == Array(1...16))
    }

    @Test func invalidUTF8AndOversizedRowsAreRowErrors() throws {
        var bytes = Array(Self.header.utf8)
        bytes += Array("a,".utf8) + [0xC3, 0x28] + Array(",d,c,1\n".utf8)
        bytes += Array("b,\"".utf8) + [UInt8](repeating: UInt8(ascii: "y"), count: 5000) + Array("\",d,c,1\n".utf8)
        bytes += Array("c,ok,d,c,1\n".utf8)
        let rows = try Self.rows(bytes, chunk: 333, limits: ValidationLimits(maxRecordBytes: 1024))
        #expect(rows.count == 3)
        if case .failure(let e) = rows[0].result { #expect(e == .invalidUTF8(field: "name")) } else { Issue.record("accepted bad UTF-8") }
        if case .failure(let e) = rows[1].result { #expect(e.code == "row_too_large") } else { Issue.record("accepted a huge row") }
        #expect((try? rows[2].result.get())?.id == "c")
    }

    @Test func jsonLinesWithReasons() throws {
        let text = """
            {"id":"p1","name":"Lamp","description":"Warm light","category":"home","price":25}
            {"id":"p2","name":"Lamp","category":"home","price":25}

            {"id":"p3","name":"Lamp","description":"x","category":"home","price":"25"}
            not json
            [1,2]
            {"id":"p1","name":"Again","description":"x","category":"home","price":1}\r
            {"id":"p4","name":"Chair","description":"Oak","category":"home","price":80.25,"extra":{"a":[1]}}
            """
        let rows = try Self.rows(text, format: .jsonLines, chunk: 5)
        let codes = rows.map { row -> String in
            switch row.result {
            case .success: "ok"
            case .failure(let e): e.code
            }
        }
        #expect(codes == ["ok", "missing_field", "wrong_type", "not_json", "not_an_object", "duplicate_id", "ok"])
        #expect(rows.map(\.line) == [1, 2, 4, 5, 6, 7, 8])
        #expect((try? rows.last!.result.get())?.price == 80.25)
    }

    @Test(arguments: [1, 2, 4])
    func jsonLinesSkipABOMSplitOverChunks(chunk: Int) throws {
        let text = "\u{FEFF}{\"id\":\"p1\",\"name\":\"Lamp\",\"description\":\"\",\"category\":\"home\",\"price\":1}\n"
        let rows = try Self.rows(text, format: .jsonLines, chunk: chunk)
        #expect(rows.count == 1)
        #expect((try? rows[0].result.get())?.id == "p1")
    }

    @Test func formatIsDetectedByNameTypeThenFirstByte() {
        #expect(CatalogFormat.detect(name: "feed.csv", contentType: "", firstBytes: Array("{".utf8)) == .csv)
        #expect(CatalogFormat.detect(name: "feed.jsonl", contentType: "", firstBytes: Array("id".utf8)) == .jsonLines)
        #expect(CatalogFormat.detect(name: "feed", contentType: "text/csv", firstBytes: Array("{".utf8)) == .csv)
        #expect(CatalogFormat.detect(name: "feed", contentType: "application/octet-stream",
                                     firstBytes: [0xEF, 0xBB, 0xBF] + Array(" {\"id\"".utf8)) == .jsonLines)
        #expect(CatalogFormat.detect(name: "feed", contentType: "", firstBytes: Array("id,name".utf8)) == .csv)
    }
}

@Suite("Files: claims and records")
struct FilesClaimTests {
    static func record(_ sha: Character = "a", at t: EpochMillis = 1000) -> FileRecord {
        let sha256 = String(repeating: sha, count: 64)
        return FileRecord(sha256: sha256, name: "f.csv", size: 10, kind: .catalog, contentType: "text/csv",
                          objectKey: FileCatalog.objectKey(sha256: sha256), uploadedAt: t)
    }

    @Test func claimOutcomesWonHeldTakenOverDoneFailed() async throws {
        let store = InMemoryFileMetadataStore()
        let r = Self.record()
        #expect(try await store.register(r) == .created(r))
        if case .existing = try await store.register(r) {} else { Issue.record("second register created") }
        guard case .won(let won) = try await store.claim(sha256: r.sha256, holder: "w1", lease: .seconds(10), now: 0) else {
            Issue.record("first claim did not win"); return
        }
        #expect(won.status == .processing && won.holder == "w1" && won.leaseUntil == 10_000 && won.attempts == 1)
        // Held by a live lease: another worker neither wins nor sees it done.
        if case .heldElsewhere = try await store.claim(sha256: r.sha256, holder: "w2", lease: .seconds(10), now: 5_000) {} else {
            Issue.record("a live lease was not heldElsewhere")
        }
        // The holder asking again (a lost reply) still holds it, without a new attempt.
        if case .won(let again) = try await store.claim(sha256: r.sha256, holder: "w1", lease: .seconds(10), now: 6_000) {
            #expect(again.attempts == 1)
        } else { Issue.record("the holder lost its own claim") }
        // The lease runs out (w1 died): w2 takes over; w1 can neither renew nor save any more.
        guard case .won(let taken) = try await store.claim(sha256: r.sha256, holder: "w2", lease: .seconds(10), now: 20_000) else {
            Issue.record("an expired lease was not taken over"); return
        }
        #expect(taken.attempts == 2)
        #expect(try await store.renew(sha256: r.sha256, holder: "w1", lease: .seconds(10), now: 20_001) == false)
        var stale = taken
        stale.status = .done
        #expect(try await store.save(stale, holder: "w1") == false)
        #expect(try await store.save(stale, holder: "w2") == true)
        if case .done = try await store.claim(sha256: r.sha256, holder: "w3", lease: .seconds(10), now: 30_000) {} else {
            Issue.record("a done file was claimable")
        }
        #expect(try await store.claim(sha256: String(repeating: "f", count: 64), holder: "w1", lease: .seconds(1), now: 0) == .notFound)
    }

    @Test func failedWaitsForARetry() async throws {
        let store = InMemoryFileMetadataStore()
        let r = Self.record("b")
        _ = try await store.register(r)
        guard case .won(var won) = try await store.claim(sha256: r.sha256, holder: "w1", lease: .seconds(10), now: 0) else { return }
        won.status = .failed
        won.error = "boom"
        #expect(try await store.save(won, holder: "w1"))
        if case .failed(let f) = try await store.claim(sha256: r.sha256, holder: "w1", lease: .seconds(10), now: 1) {
            #expect(f.error == "boom")
        } else { Issue.record("a failed file was claimable without a retry") }
        guard case .requeued(let queued) = try await store.requeue(sha256: r.sha256) else { Issue.record("not requeued"); return }
        #expect(queued.status == .queued && queued.error == "boom")
        if case .notFailed = try await store.requeue(sha256: r.sha256) {} else { Issue.record("requeued twice") }
        if case .won = try await store.claim(sha256: r.sha256, holder: "w2", lease: .seconds(10), now: 2) {} else {
            Issue.record("a retried file was not claimable")
        }
    }

    @Test func listingIsNewestFirstWithACursor() async throws {
        let store = InMemoryFileMetadataStore()
        for (i, c) in "abcde".enumerated() { _ = try await store.register(Self.record(c, at: EpochMillis(i < 3 ? 1000 : 2000))) }
        let first = try await store.list(limit: 2, after: nil)
        #expect(first.records.map { $0.sha256.first! } == ["e", "d"])
        let cursor = try #require(first.next.flatMap(FileCursor.init))
        let second = try await store.list(limit: 2, after: cursor)
        #expect(second.records.map { $0.sha256.first! } == ["c", "b"])
        let third = try await store.list(limit: 2, after: second.next.flatMap(FileCursor.init))
        #expect(third.records.map { $0.sha256.first! } == ["a"])
        #expect(third.next == nil)
        #expect(FileCursor("garbage") == nil)
        #expect(FileCursor("12-" + String(repeating: "A", count: 64)) == nil)
        // Only what the document's pattern ^[0-9]{1,18}-[0-9a-f]{64}$ allows (a fuzzer sent 25 digits; "+12" parsed).
        #expect(FileCursor("+12-" + String(repeating: "a", count: 64)) == nil)
        #expect(FileCursor(String(repeating: "9", count: 19) + "-" + String(repeating: "a", count: 64)) == nil)
        #expect(FileCursor(String(repeating: "9", count: 18) + "-" + String(repeating: "a", count: 64)) != nil)
    }

    @Test func objectKeysAreContentAddressed() {
        let sha = "ab" + "cd" + String(repeating: "0", count: 60)
        #expect(FileCatalog.objectKey(sha256: sha) == "files/sha256/ab/cd/\(sha)")
        var hasher = StreamingSHA256()
        hasher.update(Array("hello ".utf8))
        hasher.update(Array("world".utf8))
        #expect(hasher.finalize() == ContentHash.sha256Hex(Array("hello world".utf8)))
        #expect(FileRecord.isSHA256(hasher.finalize()))
    }
}
