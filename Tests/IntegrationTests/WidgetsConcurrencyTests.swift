import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The widgets API under a storm of concurrent calls: 16 real connections (one thread each, acting as
/// web_anon like the gateway) hammer 12 widgets with associate/remove_association, plus some
/// remove_widget/add_widget and get_widget. Afterwards SQL proves the invariants still hold and that
/// no call failed with a deadlock or any error other than the expected business errors.
@Suite struct WidgetsConcurrencyTests {
    static let threads = 16
    static let callsPerThread = 300
    /// SQLSTATEs a caller can get in this storm: 404 unknown widget/association, 409 no free slot /
    /// already associated, 409 duplicate serial (re-adding a widget another thread re-added), 400 same widget.
    /// PT503: remove_widget gave up re-locking a widget whose partners kept changing (a retryable 503).
    static let businessErrors: Set<String> = ["PT404", "PT409", "23505", "22023", "PT503"]

    let prefix = "wcc\(UInt32.random(in: 0...UInt32.max))-"
    /// 12 widgets with 3 slots each, mixing the port types so that most pairs share one.
    let ports = ["PPR", "PRQ", "QQR", "RRP", "PQQ", "RRR", "PPP", "QRP", "PRR", "QQQ", "RPQ", "PQR"]

    func serial(_ index: Int) -> String { "\(prefix)\(index)" }
    func slots(_ index: Int) -> String { "{" + ports[index].map(String.init).joined(separator: ",") + "}" }

    @Test func invariantsHoldUnderConcurrentCalls() throws {
        let admin = try TestDatabase.connect()
        for index in ports.indices {
            try admin.query("SELECT api.add_widget($1, $2::text, $3::text[])", [serial(index), "storm:\(ports[index])", slots(index)])
        }
        defer { _ = try? admin.query("DELETE FROM widgets.widgets WHERE serial_number LIKE $1", [prefix + "%"]) }

        let uri = TestDatabase.uri()
        let outcomes = Mutex<[String: Int]>([:])            // "ok:<call>" or the SQLSTATE of a failed call
        let failures = Mutex<[String]>([])                  // unexpected errors, with their message
        let ready = DispatchGroup(), done = DispatchGroup()
        let start = DispatchSemaphore(value: 0)              // all threads connected: go at once
        for _ in 0..<Self.threads {
            ready.enter()
            done.enter()
            let worker = Thread { [self] in
                defer { done.leave() }
                do {
                    let connection: PGConnection
                    do {
                        defer { ready.leave() }
                        connection = try PGConnection(uri)   // not Sendable: each thread owns its own
                        try connection.execute("SET ROLE web_anon")
                    }
                    start.wait()
                    var local: [String: Int] = [:]
                    var made: [[String]] = []                 // associations this thread made (to remove some)
                    for _ in 0..<Self.callsPerThread {
                        let (call, sql, arguments) = randomCall(made: &made)
                        do {
                            try connection.query(sql, arguments)
                            local["ok:\(call)", default: 0] += 1
                            if call == "associate" { made.append(arguments.compactMap { $0 }) }
                        } catch let error as PGError {
                            local[error.sqlState, default: 0] += 1
                            if !Self.businessErrors.contains(error.sqlState) {
                                failures.withLock { $0.append("\(call): \(error.sqlState) \(error.message)") }
                            }
                        }
                    }
                    outcomes.withLock { all in all.merge(local, uniquingKeysWith: +) }
                } catch {
                    failures.withLock { $0.append("worker: \(error)") }
                }
            }
            worker.start()
        }
        ready.wait()
        for _ in 0..<Self.threads { start.signal() }
        done.wait()

        let counts = outcomes.withLock { $0 }
        let unexpected = failures.withLock { $0 }
        print("widgets storm, outcomes of \(Self.threads * Self.callsPerThread) calls:", counts.sorted { $0.key < $1.key })
        #expect(unexpected.isEmpty, "unexpected errors: \(unexpected.prefix(10))")
        #expect(counts["40P01"] == nil, "deadlocks: \(counts["40P01"] ?? 0)")
        #expect(counts.values.reduce(0, +) == Self.threads * Self.callsPerThread, "every call ran: \(counts)")
        #expect((counts["ok:associate"] ?? 0) > 100 && (counts["ok:remove_association"] ?? 0) > 50, "not vacuous: \(counts)")
        #expect((counts["ok:remove_widget"] ?? 0) > 0 && (counts["ok:add_widget"] ?? 0) > 0, "not vacuous: \(counts)")

        // Invariants, over the storm's widgets (the constraints guarantee them; this proves it).
        let like = [prefix + "%"]
        let mine = "SELECT s.* FROM widgets.slots s JOIN widgets.widgets w ON w.id = s.widget_id WHERE w.serial_number LIKE $1"
        #expect(try admin.query("""
            SELECT count(*) FROM (\(mine)) s WHERE s.partner_id IS NOT NULL AND (SELECT count(*) FROM widgets.slots t
                WHERE t.widget_id = s.partner_id AND t.partner_id = s.widget_id AND t.port = s.port) <> 1
            """, like) == [["0"]], "every association is symmetric, matched by exactly one slot of the partner")
        #expect(try admin.query("""
            SELECT count(*) FROM (SELECT widget_id, partner_id, port FROM (\(mine)) s WHERE partner_id IS NOT NULL
                GROUP BY 1, 2, 3 HAVING count(*) > 1) d
            """, like) == [["0"]], "no pair shares a port type twice")
        #expect(try admin.query("""
            SELECT count(*) FROM (\(mine)) s WHERE s.partner_id = s.widget_id
                OR (s.partner_id IS NOT NULL AND NOT EXISTS (SELECT FROM widgets.widgets p WHERE p.id = s.partner_id))
            """, like) == [["0"]], "no self association, no partner that does not exist")
        #expect(try admin.query("""
            SELECT count(*) FROM (SELECT widget_id FROM (\(mine)) s GROUP BY 1
                HAVING count(*) > 3 OR count(*) <> count(DISTINCT slot_no)) d
            """, like) == [["0"]], "no widget has more than 3 slots, no slot exists twice")
        #expect(try admin.query("""
            SELECT count(*) FROM widgets.widgets w WHERE w.serial_number LIKE $1 AND (SELECT string_agg(s.port::text, '' ORDER BY s.slot_no)
                FROM widgets.slots s WHERE s.widget_id = w.id) <> split_part(w.name, ':', 2)
            """, like) == [["0"]], "every widget still has exactly the slots it was created with")
    }

    /// One random call: mostly associate/remove_association between random widgets over a random port
    /// (half of the removals target an association this thread made, which others may have ended
    /// already), some remove_widget + add_widget (same serial and ports, so the set stays small), reads.
    func randomCall(made: inout [[String]]) -> (String, String, [String?]) {
        let a = Int.random(in: ports.indices)
        var b = Int.random(in: ports.indices)
        if b == a && Int.random(in: 0..<10) > 0 { b = (a + 1) % ports.count }   // a few self associations (400)
        let port = ["P", "R", "Q"].randomElement()!
        switch Int.random(in: 0..<100) {
        case 0..<50:
            return ("associate", "SELECT api.associate_widgets($1, $2, $3)", [serial(a), serial(b), port])
        case 50..<85 where !made.isEmpty && Bool.random():
            let association = made.remove(at: Int.random(in: made.indices))
            return ("remove_association", "SELECT api.remove_association($1, $2, $3)", [association[1], association[0], association[2]])
        case 50..<85:
            return ("remove_association", "SELECT api.remove_association($1, $2, $3)", [serial(a), serial(b), port])
        case 85..<88:
            return ("remove_widget", "SELECT api.remove_widget($1)", [serial(a)])
        case 88..<95:
            return ("add_widget", "SELECT api.add_widget($1, $2::text, $3::text[])", [serial(a), "storm:\(ports[a])", slots(a)])
        default:
            return ("get_widget", "SELECT api.get_widget($1)", [serial(a)])
        }
    }
}
