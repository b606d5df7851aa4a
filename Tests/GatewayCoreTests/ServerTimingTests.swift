import Testing
@testable import GatewayCore

/// Server-Timing's value: each stage's duration in milliseconds with three decimals (microseconds,
/// rounded), in the order the stages ended.
struct ServerTimingTests {
    @Test func formatsEachStageInMillisecondsWithThreeDecimals() {
        let timing = ServerTiming(stages: [("jwt", 4_400), ("plan", 12_600), ("db", 1_234_567_890), ("render", 0), ("x", 999_999)])
        #expect(timing.header() == "jwt;dur=0.004, plan;dur=0.013, db;dur=1234.568, render;dur=0.000, x;dur=1.000")
        #expect(timing.header(pool: "primary") == "jwt;dur=0.004, plan;dur=0.013, db;dur=1234.568, render;dur=0.000, x;dur=1.000, pool;desc=primary")
    }

    @Test func noStagesIsEmpty() {
        #expect(ServerTiming(stages: []).header() == "")
        #expect(ServerTiming(stages: []).header(pool: "read") == "pool;desc=read")
    }
}
