import ArgumentParser

/// What the loader sends. Widgets scenarios use the API of sql/widgets.sql (add_widget, get_widget,
/// associate_widgets, remove_association) on serials created by `make seed-widgets`.
enum ScenarioName: String, CaseIterable, ExpressibleByArgument, Sendable {
    case `static`
    case widgetsAdd = "widgets-add"
    case widgetsMix = "widgets-mix"
    case widgetsGet = "widgets-get"
    case widgetsMixed = "widgets-mixed"
}

/// One kind of request, so that outcomes can be counted per function.
enum Operation: Int, CaseIterable, Sendable {
    case staticGet, addWidget, getWidget, associate, removeAssociation

    var label: String {
        switch self {
        case .staticGet: return "static"
        case .addWidget: return "add_widget"
        case .getWidget: return "get_widget"
        case .associate: return "associate_widgets"
        case .removeAssociation: return "remove_association"
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
    private let staticRequest: [UInt8]

    init(name: ScenarioName, host: String, port: Int, staticPath: String, runPrefix: String,
         seedPrefix: String, seedCount: Int, getMethod: String) {
        self.name = name
        self.hostHeader = "\(host):\(port)"
        self.staticPath = staticPath
        self.runPrefix = runPrefix
        self.seedPrefix = seedPrefix
        self.seedCount = max(seedCount, 2)
        self.getMethod = getMethod
        staticRequest = Array("GET \(staticPath) HTTP/1.1\r\nHost: \(hostHeader)\r\n\r\n".utf8)
    }

    /// The next request for a connection of worker `thread`.
    @inline(__always)
    func next(random: inout FastRandom, counter: inout UInt64, thread: Int) -> (Operation, [UInt8]) {
        switch name {
        case .static:
            return (.staticGet, staticRequest)          // shared bytes: no copy
        case .widgetsAdd:
            return add(&random, &counter, thread)
        case .widgetsGet:
            return get(&random)
        case .widgetsMix:
            return random.below(2) == 0 ? associate(&random, remove: false) : associate(&random, remove: true)
        case .widgetsMixed:
            switch random.below(8) {
            case 0...3: return get(&random)
            case 4, 5: return add(&random, &counter, thread)
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

    private func associate(_ random: inout FastRandom, remove: Bool) -> (Operation, [UInt8]) {
        // The seeded pairs m = (2m-1, 2m) with m % 10 != 0 (those have slots); slot 1 of both widgets has
        // port (m + m/10) % 3 (benchmarks/seed/seed-widgets.sql). So an association made by one request is
        // what a later removal finds: outcomes are 204, or 409 / 404 when the pair is already (dis)associated.
        let pairs = seedCount / 2
        var m = 1 + random.below(pairs)
        if m % 10 == 0 { m = m > 1 ? m - 1 : 1 }
        let a = 2 * m - 1, b = 2 * m
        let port = Scenario.ports[(m + m / 10) % 3]
        let body = "{\"widget1_sn\":\"\(seedPrefix)\(a)\",\"widget2_sn\":\"\(seedPrefix)\(b)\",\"port\":\"\(port)\"}"
        return remove ? (.removeAssociation, post("/rpc/remove_association", body)) : (.associate, post("/rpc/associate_widgets", body))
    }

    private func post(_ path: String, _ body: String) -> [UInt8] {
        let bodyBytes = body.utf8.count
        return Array("POST \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: \(bodyBytes)\r\n\r\n\(body)".utf8)
    }
}
