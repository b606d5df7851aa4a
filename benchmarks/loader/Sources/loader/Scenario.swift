import ArgumentParser

/// What the loader sends. Widgets scenarios use the API of sql/widgets.sql (add_widget, get_widget,
/// associate_widgets, remove_association) on serials created by `make seed-widgets`.
enum ScenarioName: String, CaseIterable, ExpressibleByArgument, Sendable {
    case `static`
    case widgetsAdd = "widgets-add"
    case widgetsMix = "widgets-mix"
    case widgetsGet = "widgets-get"
    case widgetsMixed = "widgets-mixed"
    case faults
    case builds
    case buildsBatch = "builds-batch"
}

/// One kind of request, so that outcomes can be counted per function.
enum Operation: Int, CaseIterable, Sendable {
    case staticGet, addWidget, getWidget, associate, removeAssociation, allocateVM, acquireNode, claimBuild
    case completeBuild, claimBuilds, completeBuilds

    var label: String {
        switch self {
        case .staticGet: return "static"
        case .addWidget: return "add_widget"
        case .getWidget: return "get_widget"
        case .associate: return "associate_widgets"
        case .removeAssociation: return "remove_association"
        case .allocateVM: return "allocate_vm"
        case .acquireNode: return "acquire_node"
        case .claimBuild: return "claim_build"
        case .completeBuild: return "complete_build"
        case .claimBuilds: return "claim_builds"
        case .completeBuilds: return "complete_builds"
        }
    }

    /// Writes whose acknowledgement (2xx) goes to --ack-log; reads and the static page do not.
    var isWrite: Bool {
        switch self {
        case .staticGet, .getWidget: return false
        default: return true
        }
    }
}

/// Builds request bytes. Immutable and shared by the worker threads; per-thread state
/// (random generator, counter) is passed in.
struct Scenario: Sendable {
    let name: ScenarioName
    let hostHeader: String
    let staticPath: String
    let runPrefix: String          // unique per run: serials of added widgets never collide
    let seedPrefix: String
    let seedCount: Int
    let getMethod: String          // GET (read-only transaction) or POST
    let faults: FaultsSetup
    private let staticRequest: [UInt8]

    init(name: ScenarioName, host: String, port: Int, staticPath: String, runPrefix: String,
         seedPrefix: String, seedCount: Int, getMethod: String, faults: FaultsSetup = FaultsSetup()) {
        self.faults = faults
        self.name = name
        self.hostHeader = "\(host):\(port)"
        self.staticPath = staticPath
        self.runPrefix = runPrefix
        self.seedPrefix = seedPrefix
        self.seedCount = max(seedCount, 2)
        self.getMethod = getMethod
        staticRequest = Array("GET \(staticPath) HTTP/1.1\r\nHost: \(hostHeader)\r\n\r\n".utf8)
    }

    /// The next request for a connection of worker `thread`, and the key of the write that a 2xx
    /// acknowledges, when the request names it (the rest is read from the response: see Worker.ack).
    @inline(__always)
    func next(random: inout FastRandom, counter: inout UInt64, thread: Int) -> (Operation, [UInt8], String?) {
        if name == .faults { return faultsNext(&random, &counter, thread) }
        if name == .builds || name == .buildsBatch { return claimNext(thread) }
        let (operation, bytes, key) = nextPlain(random: &random, counter: &counter, thread: thread)
        if operation == .addWidget { return (operation, bytes, "add_widget\t\(runPrefix)-\(thread)-\(counter)") }
        return (operation, bytes, key)
    }

    @inline(__always)
    private func nextPlain(random: inout FastRandom, counter: inout UInt64, thread: Int) -> (Operation, [UInt8], String?) {
        switch name {
        case .faults, .builds, .buildsBatch:
            fatalError("handled by faultsNext / claimNext")
        case .static:
            return (.staticGet, staticRequest, nil)          // shared bytes: no copy
        case .widgetsAdd:
            let (operation, bytes) = add(&random, &counter, thread)
            return (operation, bytes, nil)
        case .widgetsGet:
            let (operation, bytes) = get(&random)
            return (operation, bytes, nil)
        case .widgetsMix:
            return random.below(2) == 0 ? associate(&random, remove: false) : associate(&random, remove: true)
        case .widgetsMixed:
            switch random.below(8) {
            case 0...3: let (operation, bytes) = get(&random); return (operation, bytes, nil)
            case 4, 5: let (operation, bytes) = add(&random, &counter, thread); return (operation, bytes, nil)
            case 6: return associate(&random, remove: false)
            default: return associate(&random, remove: true)
            }
        }
    }

    private static let ports = ["P", "R", "Q"]

    private func seedSerial(_ random: inout FastRandom) -> String {
        seedPrefix + String(1 + random.below(seedCount))
    }

    private func add(_ random: inout FastRandom, _ counter: inout UInt64, _ thread: Int) -> (Operation, [UInt8]) {
        counter += 1
        let slotCount = random.below(4)
        var slots = ""
        for k in 0..<slotCount {
            if k > 0 { slots += "," }
            slots += "\"" + Scenario.ports[random.below(3)] + "\""
        }
        let body = "{\"widget_sn\":\"\(runPrefix)-\(thread)-\(counter)\",\"widget_name\":\"bench\",\"slots\":[\(slots)]}"
        return (.addWidget, post("/rpc/add_widget", body))
    }

    private func get(_ random: inout FastRandom) -> (Operation, [UInt8]) {
        let serial = seedSerial(&random)
        if getMethod == "GET" {
            return (.getWidget, Array("GET /rpc/get_widget?widget_sn=\(serial) HTTP/1.1\r\nHost: \(hostHeader)\r\nAccept: application/json\r\n\r\n".utf8))
        }
        return (.getWidget, post("/rpc/get_widget", "{\"widget_sn\":\"\(serial)\"}"))
    }

    private func associate(_ random: inout FastRandom, remove: Bool) -> (Operation, [UInt8], String?) {
        // The seeded pairs m = (2m-1, 2m) with m % 10 != 0 (those have slots); slot 1 of both widgets has
        // port (m + m/10) % 3 (benchmarks/seed/seed-widgets.sql). So an association made by one request is
        // what a later removal finds: outcomes are 204, or 409 / 404 when the pair is already (dis)associated.
        let pairs = seedCount / 2
        var m = 1 + random.below(pairs)
        if m % 10 == 0 { m = m > 1 ? m - 1 : 1 }
        let a = 2 * m - 1, b = 2 * m
        let port = Scenario.ports[(m + m / 10) % 3]
        let body = "{\"widget1_sn\":\"\(seedPrefix)\(a)\",\"widget2_sn\":\"\(seedPrefix)\(b)\",\"port\":\"\(port)\"}"
        let key = "\(remove ? "remove_association" : "associate_widgets")\t\(seedPrefix)\(a)\t\(seedPrefix)\(b)\t\(port)"
        return remove ? (.removeAssociation, post("/rpc/remove_association", body), key)
                      : (.associate, post("/rpc/associate_widgets", body), key)
    }

    private func post(_ path: String, _ body: String, token: String? = nil) -> [UInt8] {
        let bodyBytes = body.utf8.count
        let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return Array("POST \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Type: application/json\r\nAccept: application/json\r\n\(auth)Content-Length: \(bodyBytes)\r\n\r\n\(body)".utf8)
    }

    // MARK: faults: a write mix over every service, each write's key logged when acknowledged

    /// 60% add_widget (unique serial, 0-3 slots), 15% associate_widgets on a prepared pair used once
    /// (<pair-prefix><m>a / <pair-prefix><m>b, one P slot each), 10% allocate_vm (1 GB, 1 CPU),
    /// 10% acquire_node on one of <projects> projects, 5% claim_build. Without a user/worker token
    /// the corresponding share goes to add_widget.
    private func faultsNext(_ random: inout FastRandom, _ counter: inout UInt64, _ thread: Int) -> (Operation, [UInt8], String?) {
        let f = faults
        let roll = random.below(20)
        if roll >= 12 && roll < 15 && f.pairCount > 0 {
            counter += 1
            let m = Int(counter - 1) * f.threads + thread + 1
            if m <= f.pairCount {
                let a = "\(f.pairPrefix)\(m)a", b = "\(f.pairPrefix)\(m)b"
                let body = "{\"widget1_sn\":\"\(a)\",\"widget2_sn\":\"\(b)\",\"port\":\"P\"}"
                return (.associate, post("/rpc/associate_widgets", body), "associate_widgets\t\(a)\t\(b)\tP")
            }
        } else if roll >= 15 && roll < 17, let token = f.userToken {
            return (.allocateVM, post("/rpc/allocate_vm", "{\"ram\":1024,\"cpu\":1}", token: token), nil)
        } else if roll >= 17 && roll < 19, let token = f.userToken, f.projects > 0 {
            let project = "\(f.projectPrefix)\(1 + random.below(f.projects))"
            return (.acquireNode, post("/rpc/acquire_node", "{\"project_id\":\"\(project)\"}", token: token), "acquire_node\t\(project)")
        } else if roll == 19, let token = f.workerToken {
            return (.claimBuild, post("/rpc/claim_build", "{\"worker\":\"faults-\(thread)\"}", token: token), nil)
        }
        let (operation, bytes) = add(&random, &counter, thread)
        let serial = "\(runPrefix)-\(thread)-\(counter)"
        return (operation, bytes, "add_widget\t\(serial)")
    }
}

/// What the faults scenario works on (prepared by benchmarks/faults/setup.sql) and with.
struct FaultsSetup: Sendable {
    var pairPrefix = "fpair-"
    var pairCount = 0
    var projectPrefix = "fproject-"
    var projects = 0
    var userToken: String?
    var workerToken: String?
    var threads = 1
    var batch = 10                 // builds-batch: builds per claim_builds
}

// MARK: builds: claim, then complete what was claimed with its lease token (a worker's two calls)

extension Scenario {
    /// builds: claim_build; builds-batch: claim_builds(max_builds: --batch). Each connection then sends
    /// the completion the answer calls for (followUp) before it claims again.
    func claimNext(_ thread: Int) -> (Operation, [UInt8], String?) {
        let token = faults.workerToken ?? ""
        if name == .buildsBatch {
            return (.claimBuilds, post("/rpc/claim_builds", "{\"worker\":\"loader-\(thread)\",\"max_builds\":\(faults.batch)}", token: token), nil)
        }
        return (.claimBuild, post("/rpc/claim_build", "{\"worker\":\"loader-\(thread)\"}", token: token), nil)
    }

    /// The request a 2xx answer to `operation` calls for on the same connection: complete_build with
    /// the claimed build's id and lease token, or complete_builds with every build of a batch. nil when
    /// nothing was claimed (the queue is empty: claim again) or the scenario has no follow-ups.
    func followUp(after operation: Operation, response: UnsafeBufferPointer<UInt8>) -> (Operation, [UInt8])? {
        guard name == .builds || name == .buildsBatch, let token = faults.workerToken else { return nil }
        switch operation {
        case .claimBuild:
            guard let id = jsonScalars(response, "build_id", limit: 1).first,
                  let lease = jsonScalars(response, "lease_token", limit: 1).first else { return nil }
            let body = "{\"build_id\":\(id),\"lease_token\":\"\(lease)\",\"status\":\"SUCCEEDED\",\"log\":\"ok\"}"
            return (.completeBuild, post("/rpc/complete_build", body, token: token))
        case .claimBuilds:
            let ids = jsonScalars(response, "build_id"), leases = jsonScalars(response, "lease_token")
            guard !ids.isEmpty, ids.count == leases.count else { return nil }
            let results = zip(ids, leases).map { "{\"build_id\":\($0),\"lease_token\":\"\($1)\",\"status\":\"SUCCEEDED\",\"log\":\"ok\"}" }
            return (.completeBuilds, post("/rpc/complete_builds", "{\"results\":[\(results.joined(separator: ","))]}", token: token))
        default:
            return nil
        }
    }
}

/// The scalars after each `"key"` in a JSON text (numbers, or strings without escapes), in order.
func jsonScalars(_ bytes: UnsafeBufferPointer<UInt8>, _ key: String, limit: Int = .max) -> [String] {
    let needle = Array("\"\(key)\"".utf8)
    var found: [String] = []
    var i = 0
    search: while i + needle.count <= bytes.count && found.count < limit {
        for k in 0..<needle.count where bytes[i + k] != needle[k] { i += 1; continue search }
        var j = i + needle.count
        while j < bytes.count && (bytes[j] == 0x20 || bytes[j] == 0x3A) { j += 1 }   // spaces and ':'
        var value: [UInt8] = []
        if j < bytes.count && bytes[j] == 0x22 {                                       // "string"
            j += 1
            while j < bytes.count && bytes[j] != 0x22 && bytes[j] != 0x5C { value.append(bytes[j]); j += 1 }
        } else {
            while j < bytes.count, bytes[j] == 0x2D || (bytes[j] >= 0x30 && bytes[j] <= 0x39) { value.append(bytes[j]); j += 1 }
        }
        if !value.isEmpty { found.append(String(decoding: value, as: UTF8.self)) }
        i = j
    }
    return found
}
