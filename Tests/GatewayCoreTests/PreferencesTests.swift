import Testing
@testable import GatewayCore

/// `Prefer` parsing as PostgREST's `Preferences.fromHeaders` (its doctests, ApiRequest/Preferences.hs).
@Suite struct PreferencesTests {
    @Test func parsesEveryKindFirstOneWinning() {
        let prefs = Preferences(header: "count=exact,    tx=commit   ,return=representation , missing=default, handling=strict, anything, tx=rollback, timezone=America/Los_Angeles, max-affected=100, timezone=UTC",
                                allowTransactionOverride: true)
        #expect(prefs.count == "exact")
        #expect(prefs.transaction == .commit)
        #expect(prefs.handling == .strict)
        #expect(prefs.timezone == "America/Los_Angeles")
        #expect(prefs.maxAffected == 100)
        #expect(prefs.invalid == ["anything"])
    }

    /// `timeout=<seconds>` (ours): digits with an optional fraction, more than 0; anything else is an
    /// invalid item (PGRST122 when strict); echoed to the millisecond.
    @Test func timeoutIsSecondsWithDecimals() {
        #expect(Preferences(header: "timeout=2, timeout=5", allowTransactionOverride: false).timeout == 2)
        #expect(Preferences(header: "timeout=0.25", allowTransactionOverride: false).timeout == 0.25)
        for bad in ["timeout=0", "timeout=-1", "timeout=abc", "timeout=1e3", "timeout=.5", "timeout=5.", "timeout=inf", "timeout="] {
            let prefs = Preferences(header: bad, allowTransactionOverride: false)
            #expect(prefs.timeout == nil, "\(bad)")
            #expect(prefs.invalid == [bad])
        }
        #expect(Preferences(header: "handling=strict, timeout=1.5", allowTransactionOverride: false).appliedToCall
                == "handling=strict, timeout=1.5")
        #expect(Preferences.secondsText(0.0004) == "0.001")
        #expect(Preferences.secondsText(30) == "30")
        #expect(Preferences.secondsText(2.050) == "2.05")
    }

    @Test func txOnlyWhenOverrideIsAllowed() {
        let prefs = Preferences(header: "tx=rollback", allowTransactionOverride: false)
        #expect(prefs.transaction == nil)
        #expect(prefs.invalid.isEmpty)
        #expect(prefs.appliedToCall == nil)
    }

    @Test func strictRefusesUnknownItems() throws {
        let prefs = Preferences(header: "handling=strict, something, else", allowTransactionOverride: false)
        #expect(throws: APIError.requestError(status: 400, code: "PGRST122", message: "Invalid preferences given with handling=strict",
                                              details: "Invalid preferences: something, else", hint: nil)) {
            try prefs.checkValid()
        }
        try Preferences(header: "handling=lenient, something", allowTransactionOverride: false).checkValid()
        try Preferences(header: "something", allowTransactionOverride: false).checkValid()
    }

    @Test func maxAffectedCountsOnlyWhenStrictAndANumber() {
        #expect(Preferences(header: "max-affected=5", allowTransactionOverride: false).enforcedMaxAffected == nil)
        #expect(Preferences(header: "handling=strict, max-affected=5", allowTransactionOverride: false).enforcedMaxAffected == 5)
        let unreadable = Preferences(header: "handling=strict, max-affected=lots", allowTransactionOverride: false)
        #expect(unreadable.enforcedMaxAffected == nil)
        #expect(unreadable.invalid.isEmpty)
    }

    @Test func appliedInPostgRESTsOrder() {
        let prefs = Preferences(header: "max-affected=5, timezone=UTC, handling=strict, count=exact, tx=rollback", allowTransactionOverride: true)
        #expect(prefs.appliedToCall == "count=exact, tx=rollback, handling=strict, timezone=UTC, max-affected=5")
        #expect(Preferences(header: nil, allowTransactionOverride: true).appliedToCall == nil)
        #expect(Preferences(header: "", allowTransactionOverride: true).invalid.isEmpty)
    }
}
