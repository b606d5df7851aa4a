import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The compute-node API under concurrency, over real connections (one thread each, switched to the role
/// the gateway would use: `app_user` for acquire_node, `worker` for node agents), then invariants in SQL.
///   * 101 concurrent acquisitions for 101 projects on 100 nodes (while the nodes send heartbeats):
///     100 distinct nodes, one 503.
///   * known risk "a project assigned twice concurrently": 20 concurrent acquisitions of one project
///     converge on one node and one epoch.
///   * known risk "we may assign a node that left the cluster": acquisitions race with nodes leaving; no live
///     assignment stays on a node that left, and any answer naming such a node was ended by its leave.
///   * one user's 20 concurrent acquisitions of 20 projects stop at the per-user cap (5 here): 5 nodes,
///     15 answers 429; another user still gets a node.
/// The compute tables are global (settings, slots, free nodes), so the suite runs serialized and resets
/// them in the test database first; no other suite touches them (the pgTAP tests roll back, schemathesis
/// runs after swift test). The checks count only this run's projects and nodes all the same.
@Suite(.serialized) struct ComputeConcurrencyTests {
    let run = UInt32.random(in: 0...UInt32.max)
    func node(_ index: Int) -> String { "ccn\(run)-\(index)" }
    func project(_ index: Int) -> String { "ccp\(run)-\(index)" }
    /// LIKE patterns of this run's projects and nodes.
    var runProjects: String { "ccp\(run)-%" }
    var runNodes: String { "ccn\(run)-%" }

    /// What one acquire_node call gave: the node and epoch, or the error.
    enum Outcome: Sendable {
        case node(name: String, epoch: Int)
        case failed(PGError)
        case other(String)
    }

    /// Empties the compute tables and restores the default settings (test database only; the clock is
    /// the database's: these tests never move it).
    static func reset(_ admin: PGConnection) throws {
        try admin.execute("""
            DELETE FROM compute.assignments; DELETE FROM compute.assignment_history; DELETE FROM compute.projects;
            DELETE FROM compute.owners;
            DELETE FROM compute.node_leases; DELETE FROM compute.nodes;
            DELETE FROM compute.settings; INSERT INTO compute.settings DEFAULT VALUES;
            """)
    }

    /// Acts as the node agent of `node` on a connection switched to role worker: the claims of the
    /// token `gateway token --role worker --node <node>` mints (each agent acts for its own node only).
    static func actAsAgent(of node: String, on connection: PGConnection) throws {
        try connection.query("SELECT set_config('request.jwt.claims', json_build_object('role', 'worker', 'node', $1::text)::text, false)", [node])
    }

    /// Registers nodes as their node agents would (role worker, each with its node's claim); returns
    /// their epochs by name.
    func register(_ names: [String]) throws -> [String: Int] {
        let agent = try TestDatabase.connect()
        try agent.execute("SET ROLE worker")
        var epochs: [String: Int] = [:]
        for name in names {
            try Self.actAsAgent(of: name, on: agent)
            let row = try agent.query("SELECT api.register_node($1, 8192) ->> 'epoch'", [name])
            epochs[name] = row.first?.first.flatMap { $0 }.flatMap { Int($0) }
        }
        return epochs
    }

    /// Runs `count` acquire_node calls at once, each on its own connection as app_user; the project of
    /// call i is `projectOf(i)`, asked by user `userOf(i)` (by default user i: a project is its first
    /// acquirer's, so one project's calls must come from one user). All connections are open before any
    /// call starts.
    func acquireConcurrently(_ count: Int, projectOf: @escaping @Sendable (Int) -> String,
                             userOf: @escaping @Sendable (Int) -> String = { "user\($0)" },
                             alongside: (@Sendable () -> Void)? = nil) -> [Outcome] {
        let uri = TestDatabase.uri()
        let outcomes = Mutex<[Int: Outcome]>([:])
        let ready = DispatchGroup(), done = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for index in 0..<count {
            ready.enter(); done.enter()
            Thread {
                defer { done.leave() }
                let outcome: Outcome
                do {
                    let connection = try PGConnection(uri)      // not Sendable: each thread owns its own
                    try connection.execute("SET ROLE app_user")
                    try connection.query("SELECT set_config('request.jwt.claims', $1, false)",
                                         ["{\"role\":\"app_user\",\"sub\":\"\(userOf(index))\"}"])
                    ready.leave()
                    start.wait()
                    do {
                        let row = try connection.query(
                            "SELECT a ->> 'node', a ->> 'epoch' FROM api.acquire_node($1) a", [projectOf(index)])
                        if let name = row.first?[0], let epoch = row.first?[1].flatMap({ Int($0) }) {
                            outcome = .node(name: name, epoch: epoch)
                        } else {
                            outcome = .other("answer \(row)")
                        }
                    } catch let error as PGError {
                        outcome = .failed(error)
                    }
                } catch {
                    ready.leave()
                    outcome = .other("connection: \(error)")
                }
                outcomes.withLock { $0[index] = outcome }
            }.start()
        }
        ready.wait()
        if let alongside {
            done.enter()
            Thread { defer { done.leave() }; start.wait(); alongside() }.start()
            for _ in 0...count { start.signal() }
        } else {
            for _ in 0..<count { start.signal() }
        }
        done.wait()
        return outcomes.withLock { all in (0..<count).map { all[$0] ?? .other("no outcome") } }
    }

    static func isBusy(_ error: PGError) -> Bool {
        guard error.sqlState == "PGRST", let data = error.message.data(using: .utf8),
              let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return body["code"] as? String == "PT503"
            && (body["message"] as? String)?.contains("come back later") == true
            && error.detail?.contains("Retry-After") == true
    }

    @Test func hundredConcurrentAcquisitionsGetDistinctNodesAndTheHundredAndFirstGets503() throws {
        let admin = try TestDatabase.connect()
        try Self.reset(admin)
        defer { _ = try? Self.reset(admin) }
        let names = (0..<100).map(node)
        let nodeEpochs = try register(names)
        let uri = TestDatabase.uri()
        let heartbeatErrors = Mutex<[String]>([])

        // Meanwhile every node sends a heartbeat: heartbeats write node_leases, never the node rows the
        // assigners lock with SKIP LOCKED, so they cannot make a free node look busy (no false 503).
        let outcomes = acquireConcurrently(101, projectOf: { [run] in "ccp\(run)-\($0)" }, alongside: {
            do {
                let agent = try PGConnection(uri)
                try agent.execute("SET ROLE worker")
                for name in names {
                    try Self.actAsAgent(of: name, on: agent)
                    try agent.query("SELECT api.node_heartbeat($1, $2::bigint, '{}')", [name, String(nodeEpochs[name] ?? 0)])
                }
            } catch {
                heartbeatErrors.withLock { $0.append("\(error)") }
            }
        })
        #expect(heartbeatErrors.withLock { $0 }.isEmpty, "every heartbeat was accepted")
        let nodes = outcomes.compactMap { if case .node(let name, _) = $0 { name } else { nil } }
        let epochs = outcomes.compactMap { if case .node(_, let epoch) = $0 { epoch } else { nil } }
        let busy = outcomes.filter { if case .failed(let error) = $0 { Self.isBusy(error) } else { false } }
        let unexpected = outcomes.filter {
            switch $0 { case .node: false; case .failed(let error): !Self.isBusy(error); case .other: true }
        }
        #expect(unexpected.isEmpty, "unexpected outcomes: \(unexpected.prefix(5))")
        #expect(nodes.count == 100, "100 acquisitions got a node")
        #expect(Set(nodes).count == 100, "... 100 distinct nodes")
        #expect(Set(epochs).count == 100, "... each with its own epoch")
        #expect(busy.count == 1, "the 101st got 503 (PGRST, code PT503, Retry-After)")

        // One more, after the storm: still 503, with the message JSON and status detail.
        let caller = try TestDatabase.connect()
        try caller.execute("SET ROLE app_user")
        try caller.query("SELECT set_config('request.jwt.claims', $1, false)", ["{\"role\":\"app_user\",\"sub\":\"user1000\"}"])
        do {
            let row = try caller.query("SELECT api.acquire_node($1)", [project(1000)])
            Issue.record("the 102nd acquisition got a node: \(row)")
        } catch let error as PGError {
            #expect(Self.isBusy(error) && error.detail?.contains("\"status\" : 503") == true, "503 again: \(error)")
        }
        // The same 100 projects ask again: the same answers.
        let again = acquireConcurrently(100, projectOf: { [run] in "ccp\(run)-\($0)" })
        let winners = Dictionary(uniqueKeysWithValues: outcomes.enumerated().compactMap { index, outcome -> (Int, String)? in
            if case .node(let name, _) = outcome { (index, name) } else { nil }
        })
        for (index, outcome) in again.enumerated() {
            if let name = winners[index] {
                if case .node(let got, _) = outcome { #expect(got == name, "project \(index) kept its node") }
                else { Issue.record("project \(index) lost its node: \(outcome)") }
            }
        }

        // Invariants, in SQL.
        #expect(try admin.query("""
            SELECT count(*), count(DISTINCT a.node_id), count(DISTINCT a.slot_no), count(*) FILTER (WHERE n.name LIKE $2)
            FROM compute.assignments a JOIN compute.nodes n ON n.id = a.node_id WHERE a.project_id LIKE $1
            """, [runProjects, runNodes]) == [["100", "100", "100", "100"]], "100 live assignments on 100 of this run's nodes, 100 slots")
        #expect(try admin.query("""
            SELECT count(*) FROM compute.assignments a JOIN compute.node_leases l ON l.node_id = a.node_id
            WHERE a.project_id LIKE $1 AND (a.epoch <= l.epoch OR a.node_epoch <> l.epoch)
            """, [runProjects]) == [["0"]], "every assignment belongs to its node's current registration and has a greater epoch")
        #expect(try admin.query("SELECT count(*) FROM compute.assignment_history WHERE project_id LIKE $1", [runProjects]) == [["0"]],
                "nothing was assigned and undone")
        #expect(try admin.query("SELECT count(*) FROM compute.projects WHERE id LIKE $1", [runProjects]) == [["100"]],
                "the refused project left no row")
    }

    @Test func concurrentAcquisitionsOfOneProjectConvergeOnOneNode() throws {
        let admin = try TestDatabase.connect()
        try Self.reset(admin)
        defer { _ = try? Self.reset(admin) }
        _ = try register((0..<10).map(node))

        // known risk: two concurrent calls for one project must not assign it twice.
        let outcomes = acquireConcurrently(20, projectOf: { [run] _ in "ccp\(run)-same" }, userOf: { _ in "owner" })
        let answers = Set(outcomes.compactMap { outcome -> String? in
            if case .node(let name, let epoch) = outcome { "\(name)@\(epoch)" } else { nil }
        })
        #expect(outcomes.allSatisfy { if case .node = $0 { true } else { false } }, "every call got a node: \(outcomes.prefix(3))")
        #expect(answers.count == 1, "all 20 calls got the same node and epoch: \(answers)")
        #expect(try admin.query("SELECT count(*) FROM compute.assignments WHERE project_id = $1", ["ccp\(run)-same"])
                == [["1"]], "one live assignment")
        #expect(try admin.query("SELECT count(*) FROM compute.assignment_history WHERE project_id LIKE $1", [runProjects]) == [["0"]],
                "no other assignment was made and ended")
    }

    static func isUserCap(_ error: PGError) -> Bool {
        guard error.sqlState == "PGRST", let data = error.message.data(using: .utf8),
              let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return body["code"] as? String == "PT429" && error.detail?.contains("429") == true
            && error.detail?.contains("Retry-After") == true
    }

    @Test func oneUsersConcurrentAcquisitionsStopAtThePerUserCap() throws {
        let admin = try TestDatabase.connect()
        try Self.reset(admin)
        defer { _ = try? Self.reset(admin) }
        try admin.execute("UPDATE compute.settings SET max_running_projects_per_user = 5")
        _ = try register((0..<30).map(node))

        // 20 different projects of one user at once, on 30 free nodes: the user's row serialises the
        // count, so exactly 5 run and the other 15 get 429; another user still gets a node.
        let outcomes = acquireConcurrently(20, projectOf: { [run] in "ccp\(run)-\($0)" }, userOf: { [run] _ in "greedy\(run)" })
        let nodes = outcomes.compactMap { if case .node(let name, _) = $0 { name } else { nil } }
        let capped = outcomes.filter { if case .failed(let error) = $0 { Self.isUserCap(error) } else { false } }
        #expect(nodes.count == 5, "5 of one user's 20 concurrent acquisitions got a node: \(outcomes.prefix(3))")
        #expect(capped.count == 15, "... the other 15 got 429 with Retry-After")
        #expect(try admin.query("""
            SELECT count(*) FROM compute.assignments a JOIN compute.projects p ON p.id = a.project_id
            WHERE p.owner_id = $2 AND a.project_id LIKE $1
            """, [runProjects, "greedy\(run)"]) == [["5"]], "the user runs 5 projects")
        let other = acquireConcurrently(1, projectOf: { [run] _ in "ccp\(run)-other" }, userOf: { [run] _ in "patient\(run)" })
        if case .node = other[0] {} else { Issue.record("another user was held back: \(other[0])") }
    }

    @Test func nodesLeavingWhileProjectsAreAssigned() throws {
        let admin = try TestDatabase.connect()
        try Self.reset(admin)
        defer { _ = try? Self.reset(admin) }
        let names = (0..<60).map(node)
        let epochs = try register(names)
        let leaving = Array(names.prefix(30))
        let uri = TestDatabase.uri()
        let leaveErrors = Mutex<[String]>([])

        // known risk: a node that left the cluster must not be assigned: 25 acquisitions race with
        // 30 of 60 nodes leaving (lowest ids first: the ones the assigner picks first).
        let outcomes = acquireConcurrently(25, projectOf: { [run] in "ccp\(run)-\($0)" }, alongside: {
            do {
                let agent = try PGConnection(uri)
                try agent.execute("SET ROLE worker")
                for name in leaving {
                    try Self.actAsAgent(of: name, on: agent)
                    try agent.query("SELECT api.leave_node($1, $2::bigint)", [name, String(epochs[name] ?? 0)])
                }
            } catch {
                leaveErrors.withLock { $0.append("\(error)") }
            }
        })
        #expect(leaveErrors.withLock { $0 }.isEmpty, "every leave succeeded")
        let unexpected = outcomes.filter {
            switch $0 { case .node: false; case .failed(let error): !Self.isBusy(error); case .other: true }
        }
        #expect(unexpected.isEmpty, "only nodes or 503: \(unexpected.prefix(5))")
        #expect(try admin.query("""
            SELECT count(*) FROM compute.assignments a JOIN compute.nodes n ON n.id = a.node_id
            WHERE n.name LIKE $1 AND n.state <> 'live'
            """, [runNodes]) == [["0"]], "no live assignment on a node that left")
        // An answer naming a node that left was given before the leave, which ended it.
        for case .node(let name, let epoch) in outcomes where leaving.contains(name) {
            #expect(try admin.query("SELECT end_reason::text FROM compute.assignment_history WHERE epoch = $1::bigint",
                                    [String(epoch)]) == [["node_left"]], "assignment \(epoch) on \(name) was ended by its leave")
        }
        // Asked again, every project runs on a node that is still there.
        let again = acquireConcurrently(25, projectOf: { [run] in "ccp\(run)-\($0)" })
        for outcome in again {
            if case .node(let name, _) = outcome { #expect(!leaving.contains(name), "\(name) left; not handed out again") }
            else { Issue.record("30 live nodes for 25 projects, yet: \(outcome)") }
        }
    }
}
