import Foundation
import Synchronization
import Testing
@testable import GatewayCore

/// The VM allocation API under a storm: 16 real connections (one thread each, acting as app_user with
/// their own `sub`, like the gateway) allocate and release VMs on 4 small servers, so that servers run
/// full and answer "no capacity" often. Meanwhile a checker connection re-reads the capacity invariant
/// (each check is one statement, one snapshot). Afterwards SQL proves that for every server available
/// plus the running VMs' share equals the total, nothing went negative, no address was handed out
/// twice, and no call failed with a deadlock or any error other than "no capacity" (503) or, for a
/// release of someone else's VM, 404. Placement is global (any available server), so the test holds the
/// "vm-servers" lock while its servers are available.
@Suite struct VMConcurrencyTests {
    static let threads = 16
    static let callsPerThread = 80
    static let servers = 4

    let run = UInt32.random(in: 0...UInt32.max)
    var prefix: String { "vmcc\(run)-" }
    /// A /24 of the shared address space (100.64.0.0/10), split into one /27 (30 addresses) per server.
    var network: String { "100.\(64 + Int(run % 64)).\(Int(run / 64 % 256))" }

    func sub(_ thread: Int) -> String { "u\(thread)-\(run)" }

    @Test func capacityAndAddressesStayConsistentUnderConcurrentAllocations() async throws {
        // allocate_vm places on the best fit among ALL available servers: another test's server
        // (GatewayIdentityTests registers one) would take this storm's VMs, and its VMs would land on
        // these servers. VM placement is shared, so the tests that use it take turns.
        let placement = try await TestDatabase.hold("vm-servers")
        defer { withExtendedLifetime(placement) {} }
        let admin = try TestDatabase.connect()
        for index in 0..<Self.servers {
            try admin.query("SELECT api.register_server($1, 8192, 8, $2::cidr)",
                            ["\(prefix)\(index)", "\(network).\(index * 32)/27"])
        }
        let serverIDs = "SELECT id FROM vms.servers WHERE name LIKE '\(prefix)%'"
        defer {
            _ = try? admin.execute("DELETE FROM vms.vms WHERE server_id IN (\(serverIDs)); DELETE FROM vms.servers WHERE name LIKE '\(prefix)%'")
        }

        let uri = TestDatabase.uri()
        let outcomes = Mutex<[String: Int]>([:])            // "ok:<call>" or "<call>:<SQLSTATE>"
        let failures = Mutex<[String]>([])                  // unexpected errors and wrong answers
        let published = Mutex<[Int]>([])                   // VM ids others may (wrongly) try to release
        let stormOver = Atomic<Bool>(false)
        let checks = Atomic<Int>(0)
        let workersDone = DispatchGroup(), checkerDone = DispatchGroup()
        let start = DispatchSemaphore(value: 0)

        for thread in 0..<Self.threads {
            workersDone.enter()
            let worker = Thread { [self] in
                defer { workersDone.leave() }
                do {
                    let connection = try PGConnection(uri)   // not Sendable: each thread owns its own
                    try connection.execute("SET ROLE app_user")
                    try connection.query("SELECT set_config('request.jwt.claims', $1, false)",
                                         ["{\"sub\":\"\(sub(thread))\",\"role\":\"app_user\"}"])
                    start.wait()
                    var local: [String: Int] = [:]
                    var mine: [Int] = []                     // running VMs of this thread's user
                    var everMine: Set<Int> = []              // every VM this user allocated
                    func note(_ call: String, _ body: () throws -> Void, allowed: Set<String>) {
                        do {
                            try body()
                            local["ok:\(call)", default: 0] += 1
                        } catch let error as PGError {
                            local["\(call):\(error.sqlState)", default: 0] += 1
                            if !allowed.contains(error.sqlState) {
                                failures.withLock { $0.append("\(call): \(error.sqlState) \(error.message)") }
                            }
                        } catch {
                            failures.withLock { $0.append("\(call): \(error)") }
                        }
                    }
                    for _ in 0..<Self.callsPerThread {
                        let dice = Int.random(in: 0..<100)
                        if dice < 35, !mine.isEmpty {
                            let id = mine.remove(at: Int.random(in: mine.indices))
                            note("release", {
                                let row = try connection.query("SELECT api.release_vm($1::bigint) ->> 'state'", [String(id)])
                                if row != [["released"]] { failures.withLock { $0.append("release \(id): \(row)") } }
                            }, allowed: [])
                        } else if dice < 40 {
                            guard let other = published.withLock({ $0.randomElement() }), !everMine.contains(other) else { continue }
                            note("release_other", {
                                try connection.query("SELECT api.release_vm($1::bigint)", [String(other)])
                                failures.withLock { $0.append("released another user's VM \(other)") }
                            }, allowed: ["PT404"])
                        } else if dice < 45 {
                            note("list", {
                                let count = try connection.query("SELECT count(*) FROM api.list_my_vms()")
                                if count != [[String(mine.count)]] {
                                    failures.withLock { $0.append("list_my_vms: \(count), expected \(mine.count)") }
                                }
                            }, allowed: [])
                        } else {
                            let ram = [512, 1024, 2048, 4096].randomElement()!, cpu = Int.random(in: 1...2)
                            note("allocate", {
                                let rows = try connection.query("""
                                    SELECT a ->> 'vm_id', a ->> 'ip', a -> 'pem_file_details' ->> 'key' LIKE '-----BEGIN PRIVATE KEY-----%'
                                    FROM api.allocate_vm($1::int, $2::int) a
                                    """, [String(ram), String(cpu)])
                                guard let row = rows.first, let id = row[0].flatMap({ Int($0) }), row[2] == "t" else {
                                    failures.withLock { $0.append("allocate answered \(rows)") }
                                    return
                                }
                                mine.append(id)
                                everMine.insert(id)
                                published.withLock { $0.append(id) }
                            }, allowed: ["PGRST"])   // no capacity: 503 with Retry-After
                        }
                    }
                    // Give everything back, so the servers must end up exactly full again.
                    for id in mine {
                        note("release", { try connection.query("SELECT api.release_vm($1::bigint)", [String(id)]) }, allowed: [])
                    }
                    outcomes.withLock { all in all.merge(local, uniquingKeysWith: +) }
                } catch {
                    failures.withLock { $0.append("worker: \(error)") }
                }
            }
            worker.start()
        }

        // The checker: every committed state must satisfy the invariant, not only the final one.
        checkerDone.enter()
        let checker = Thread { [self] in
            defer { checkerDone.leave() }
            do {
                let connection = try PGConnection(uri)
                start.wait()
                while !stormOver.load(ordering: .acquiring) {
                    let broken = try connection.query(Self.brokenServers(prefix: prefix))
                    if broken != [["0"]] { failures.withLock { $0.append("invariant broken mid-storm: \(broken)") } }
                    checks.add(1, ordering: .relaxed)
                }
            } catch {
                failures.withLock { $0.append("checker: \(error)") }
            }
        }
        checker.start()
        for _ in 0...Self.threads { start.signal() }
        workersDone.wait()
        stormOver.store(true, ordering: .releasing)
        checkerDone.wait()

        let counts = outcomes.withLock { $0 }
        let unexpected = failures.withLock { $0 }
        #expect(unexpected.isEmpty, "unexpected errors or answers: \(unexpected.prefix(10))")
        #expect(counts.keys.filter { $0.hasSuffix(":40P01") }.isEmpty, "deadlocks: \(counts)")
        #expect((counts["ok:allocate"] ?? 0) > 100, "not vacuous: \(counts)")
        #expect((counts["allocate:PGRST"] ?? 0) > 0, "servers ran full at times (503s): \(counts)")
        #expect((counts["ok:release"] ?? 0) == (counts["ok:allocate"] ?? 0), "every VM was released once: \(counts)")
        #expect(checks.load(ordering: .relaxed) > 0, "the checker ran")

        // Invariants, over the storm's servers (the constraints guarantee them; this proves it).
        #expect(try admin.query(Self.brokenServers(prefix: prefix)) == [["0"]],
                "available + running VMs' share = total, for RAM, CPU and addresses")
        #expect(try admin.query("""
            SELECT count(*) FROM vms.servers WHERE name LIKE $1
                AND (available_ram <> total_ram OR available_cpu <> total_cpu OR available_ips <> total_ips)
            """, [prefix + "%"]) == [["0"]], "after everything was released, every server is whole again")
        #expect(try admin.query("""
            SELECT count(*) FROM vms.servers WHERE name LIKE $1 AND (available_ram < 0 OR available_cpu < 0 OR available_ips < 0)
            """, [prefix + "%"]) == [["0"]], "nothing negative")
        #expect(try admin.query("""
            SELECT count(*) FROM (SELECT v.server_id, v.ip FROM vms.vms v WHERE v.server_id IN (\(serverIDs))
                GROUP BY 1, 2 HAVING count(*) FILTER (WHERE v.state = 'running') > 1) d
            """) == [["0"]], "no address is held by two running VMs")
        #expect(try admin.query("""
            SELECT count(*) FROM (SELECT v1.id FROM vms.vms v1 JOIN vms.vms v2
                ON v1.server_id = v2.server_id AND v1.ip = v2.ip AND v1.id < v2.id
                AND tstzrange(v1.created_at, v1.released_at) && tstzrange(v2.created_at, v2.released_at)
                WHERE v1.server_id IN (\(serverIDs))) d
            """) == [["0"]], "no address was held by two VMs at overlapping times (reuse only after release)")
        #expect(try admin.query("""
            SELECT count(*) FROM vms.vms v JOIN vms.servers s ON s.id = v.server_id
            WHERE s.name LIKE $1 AND NOT (v.ip << s.subnet AND v.ip <> network(s.subnet) AND v.ip <> broadcast(s.subnet))
            """, [prefix + "%"]) == [["0"]], "every address is a host address of its server's subnet")
        #expect(try admin.query("""
            SELECT count(DISTINCT owner) FROM vms.vms WHERE server_id IN (\(serverIDs))
            """) == [[String(Self.threads)]], "every user placed VMs")
    }

    /// Count of this run's servers whose available RAM, CPU or addresses plus what the running VMs hold
    /// differ from the total (one statement: one snapshot).
    static func brokenServers(prefix: String) -> String {
        """
        SELECT count(*) FROM vms.servers s
        LEFT JOIN LATERAL (SELECT coalesce(sum(v.ram), 0) AS ram, coalesce(sum(v.cpu), 0) AS cpu, count(*) AS n
                           FROM vms.vms v WHERE v.server_id = s.id AND v.state = 'running') l ON true
        WHERE s.name LIKE '\(prefix)%' AND (s.available_ram + l.ram <> s.total_ram
              OR s.available_cpu + l.cpu <> s.total_cpu OR s.available_ips + l.n <> s.total_ips)
        """
    }
}
