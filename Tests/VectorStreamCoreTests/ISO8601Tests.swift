import Testing
import VectorStreamCore

@Suite("ISO-8601 timestamps")
struct ISO8601Tests {
    @Test func parsesUTCAndOffsets() {
        #expect(ISO8601.parse("1970-01-01T00:00:00Z") == 0)
        #expect(ISO8601.parse("2024-01-15T10:30:00Z") == 1_705_314_600_000)
        #expect(ISO8601.parse("2024-01-15T12:30:00+02:00") == 1_705_314_600_000)
        #expect(ISO8601.parse("2024-01-15T10:30:00.5Z") == 1_705_314_600_500)
        #expect(ISO8601.parse("2024-01-15T10:30:00.123456Z") == 1_705_314_600_123)
        #expect(ISO8601.parse("2024-02-29T00:00:00Z") != nil)
        #expect(ISO8601.parse("1969-12-31T23:59:59Z") == -1000)
    }

    @Test(arguments: ["2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-15 10:30", "2024-01-15T25:00:00Z",
                      "2024-01-15T10:30:00", "yesterday", "2024-01-15T10:30:00.Z", "2024-01-15T10:30:00+0200"])
    func rejectsMalformed(_ text: String) {
        #expect(ISO8601.parse(text) == nil)
    }

    @Test func formatRoundTrips() {
        for millis: EpochMillis in [0, 1_705_314_600_123, 951_782_400_000, -86_400_000, 4_102_444_800_999] {
            #expect(ISO8601.parse(ISO8601.format(millis)) == millis)
        }
        #expect(ISO8601.format(1_705_314_600_123) == "2024-01-15T10:30:00.123Z")
    }
}
