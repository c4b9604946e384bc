import NIOCore
import Testing

@testable import RedisClient

@Suite("RESP encoding and decoding")
struct RESPTests {
    private func decodeAll(_ text: String) throws -> [RESPValue] {
        var buffer = ByteBuffer(string: text)
        var values: [RESPValue] = []
        while let value = try RESPParser().parse(&buffer) { values.append(value) }
        #expect(buffer.readableBytes == 0, "bytes left over")
        return values
    }

    @Test("commands are arrays of bulk strings, binary-safe, with integers as decimal text")
    func encodesCommands() {
        let command = RedisCommand("SET", "key", .bytes([0, 13, 10, 255]), "PX", .integer(-1_500), .integer(0))
        let buffer = RESPEncoder.encode([command])
        let expected: [UInt8] = Array("*6\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\n".utf8) + [0, 13, 10, 255]
            + Array("\r\n$2\r\nPX\r\n$5\r\n-1500\r\n$1\r\n0\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test("every integer width is written exactly")
    func encodesExtremeIntegers() {
        for value in [Int64.min, Int64.max, 9, 10, -1, 1_234_567_890] {
            var buffer = ByteBuffer()
            RESPEncoder.writeDecimal(value, into: &buffer)
            #expect(String(buffer: buffer) == String(value))
        }
    }

    @Test("RESP2 types, including both nulls and a nested array")
    func decodesRESP2() throws {
        let values = try decodeAll("+OK\r\n-ERR wrong type\r\n:-42\r\n$5\r\nhel\r\n\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n")
        #expect(values.count == 7)
        #expect(values[0] == .simpleString("OK"))
        #expect(values[1] == .error(RedisError(message: "ERR wrong type")))
        #expect((values[1].array == nil) && RedisError(message: "ERR wrong type").code == "ERR")
        #expect(values[2] == .integer(-42))
        #expect(values[3].bytes == Array("hel\r\n".utf8))
        #expect(values[4].isNull && values[5].isNull)
        #expect(values[6] == .array([.integer(1), .array([.bulkString(ByteBuffer())])]))
    }

    @Test("RESP3 types: null, double, boolean, big number, verbatim, map, set, push, blob error, attribute")
    func decodesRESP3() throws {
        let text = "_\r\n,3.25\r\n,-inf\r\n#t\r\n#f\r\n(3492890328409238509324850943850943825024385\r\n"
            + "=15\r\ntxt:Some string\r\n%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n:2\r\n~2\r\n+a\r\n+b\r\n"
            + ">2\r\n+message\r\n+hi\r\n!21\r\nSYNTAX invalid syntax\r\n|1\r\n+ttl\r\n:3600\r\n:7\r\n"
        let values = try decodeAll(text)
        #expect(values.count == 12)
        #expect(values[0] == .null)
        #expect(values[1] == .double(3.25))
        #expect(values[2] == .double(-.infinity))
        #expect(values[3] == .boolean(true) && values[4] == .boolean(false))
        #expect(values[5] == .bigNumber("3492890328409238509324850943850943825024385"))
        #expect(values[6] == .verbatimString(format: "txt", text: "Some string"))
        let pairs = Dictionary(uniqueKeysWithValues: try #require(values[7].pairs).map { ($0.0.string!, $0.1.int!) })
        #expect(pairs == ["first": 1, "second": 2])
        #expect(values[8] == .set([.simpleString("a"), .simpleString("b")]))
        #expect(values[9] == .push([.simpleString("message"), .simpleString("hi")]))
        #expect(values[10] == .error(RedisError(message: "SYNTAX invalid syntax")))
        #expect(values[11] == .integer(7), "an attribute is skipped and the value after it returned")
    }

    @Test("a value cut at every byte position parses only once complete, then exactly")
    func partialFrames() throws {
        let whole = "*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n:123\r\n+NEXT\r\n"
        let bytes = Array(whole.utf8)
        let firstLength = bytes.count - "+NEXT\r\n".utf8.count
        for cut in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[..<cut])
            let value = try RESPParser().parse(&buffer)
            if cut < firstLength {
                #expect(value == nil, "complete at \(cut) of \(firstLength)?")
                #expect(buffer.readableBytes == cut, "an incomplete parse must not consume")
            } else {
                #expect(value == .array([.bulkString(ByteBuffer(string: "hello")),
                                         .map([.simpleString("k"): .double(1.5)]), .integer(123)]))
                #expect(buffer.readableBytes == cut - firstLength)
            }
        }
    }

    @Test("malformed input is a protocol error, not a crash or a hang")
    func malformed() {
        for text in ["?what\r\n", ":12a\r\n", "$3\r\nabcd\r\n", "*1\r\n:1\rX", "#x\r\n", ":99999999999999999999\r\n"] {
            var buffer = ByteBuffer(string: text)
            #expect(throws: RedisClientError.self, "\(text.debugDescription)") { try RESPParser().parse(&buffer) }
        }
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 100) + ":1\r\n")
        #expect(throws: RedisClientError.self) { try RESPParser().parse(&deep) }
    }

    @Test("round trip: what the encoder writes, the decoder reads back as bulk strings")
    func roundTrip() throws {
        let payload: [UInt8] = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var buffer = RESPEncoder.encode([RedisCommand("MSET", "a", .bytes(payload)), RedisCommand("PING")])
        let first = try #require(try RESPParser().parse(&buffer))
        #expect(first.array?.map { $0.bytes ?? [] } == [Array("MSET".utf8), Array("a".utf8), payload])
        #expect(try RESPParser().parse(&buffer) == .array([.bulkString(ByteBuffer(string: "PING"))]))
    }
}
