import Testing
@testable import VectorStreamClickHouse
import VectorStreamCore

/// The funnel segments' pure parts: keys equal to the server's, and the rows a batch writes.
@Suite("Funnel segments")
struct FunnelSegmentTests {
    /// Values of `sipHash64(s)` printed by clickhouse-server 18.16.
    @Test func sessionHashEqualsClickHouseSipHash64() {
        #expect(SipHash64.hash("") == 2_202_906_307_356_721_367)
        #expect(SipHash64.hash("s-abc") == 2_353_511_175_153_034_311)
        #expect(SipHash64.hash("s-1ab2c3d4e5f6g") == 5_595_480_851_374_413_798)
        #expect(SipHash64.hash("ünïcode session 12345678901234567890") == 13_111_095_270_664_262_318)
    }

    @Test func keysCarryTheStepInTheirTopBits() {
        for (index, _) in ClickHouseSchema.funnelSteps.enumerated() {
            let key = FunnelSegments.key(stepIndex: index, sessionID: "s-42")
            #expect(ClickHouseSchema.funnelKeyRange(stepIndex: index).contains(key))
            #expect(key & (UInt64.max >> 2) == SipHash64.hash("s-42") >> 2)
        }
    }

    @Test func aBatchWritesNewExtendedAndNothingForStaleKeys() {
        let fresh = FunnelSegments.key(stepIndex: 0, sessionID: "new")
        let extended = FunnelSegments.key(stepIndex: 1, sessionID: "moved")
        let stale = FunnelSegments.key(stepIndex: 2, sessionID: "late")
        let current = [
            extended: FunnelSegment(key: extended, previousMillis: 100, lastMillis: 200),
            stale: FunnelSegment(key: stale, previousMillis: FunnelSegments.noPrevious, lastMillis: 500),
        ]
        let rows = FunnelSegments.rows(latest: [fresh: 50, extended: 300, stale: 500], current: current)
        let byKey = Dictionary(grouping: rows, by: \.segment.key)
        #expect(byKey[fresh]?.map(\.sign) == [1])
        #expect(byKey[fresh]?.first?.segment == FunnelSegment(key: fresh, previousMillis: .min, lastMillis: 50))
        #expect(byKey[extended]?.map(\.sign) == [-1, 1])
        #expect(byKey[extended]?.map(\.segment) == [current[extended]!,
                                                    FunnelSegment(key: extended, previousMillis: 100, lastMillis: 300)])
        #expect(byKey[stale] == nil)
    }

    @Test func aBatchKeepsEachSessionStepsLatestTime() {
        let product = Product(id: "p", name: "n", description: "d", category: "c", price: 1)
        func event(_ type: EventType, _ session: String, _ at: Int64) -> AcceptedEvent {
            AcceptedEvent(event: Event(eventID: "e\(at)", timestamp: at, userID: "u", type: type, product: product,
                                       sessionID: session),
                          raw: [], position: SourcePosition(topic: "t", partition: 0, offset: at), arrivalNanos: 0)
        }
        let latest = FunnelSegments.latestSteps(of: [
            event(.view, "a", 30), event(.view, "a", 10), event(.purchase, "a", 20), event(.search, "a", 99),
            event(.wishlistAdd, "b", 5), event(.addToCart, "b", 7),
        ])
        #expect(latest == [
            FunnelSegments.key(stepIndex: 0, sessionID: "a"): 30,
            FunnelSegments.key(stepIndex: 2, sessionID: "a"): 20,
            FunnelSegments.key(stepIndex: 1, sessionID: "b"): 7,
        ])
    }
}
