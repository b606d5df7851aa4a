import Foundation

/// A self-contained HTML page (inline SVG, no scripts) with throughput and p50/p99 per second.
enum HTMLReport {
    static func render(_ s: Summary) -> String {
        let seconds = s.perSecond
        let throughput = chart(title: "Throughput (responses per second)", unit: "req/s",
                               series: [("req/s", "#1f77b4", seconds.map { Double($0.requests) })])
        let latency = chart(title: "Latency per second (ms)", unit: "ms",
                            series: [("p50", "#2ca02c", seconds.map(\.p50Ms)), ("p99", "#d62728", seconds.map(\.p99Ms))])
        let l = s.latencyMs
        let rows: [(String, String)] = [
            ("scenario", s.scenario), ("target", s.url),
            ("mode", s.mode == "open" ? "open loop at \(Int(s.targetRate ?? 0)) req/s (latency from the intended send time)" : "closed loop"),
            ("connections / threads", "\(s.connections) / \(s.threads)"),
            ("window", String(format: "%.2f s after %.1f s warm-up", s.durationSeconds, s.warmupSeconds)),
            ("requests", "\(s.requests)"), ("throughput", String(format: "%.0f req/s", s.requestsPerSecond)),
            ("latency", String(format: "p50 %.3f · p90 %.3f · p99 %.3f · p99.9 %.3f · max %.3f ms", l.p50, l.p90, l.p99, l.p999, l.max)),
            ("admitted (not 503)", String(format: "%d answers: p50 %.3f · p99 %.3f · p99.9 %.3f · max %.3f ms", s.admittedRequests,
                                          s.latencyAdmittedMs.p50, s.latencyAdmittedMs.p99, s.latencyAdmittedMs.p999, s.latencyAdmittedMs.max)),
            ("status", s.status.keys.sorted().map { "\($0): \(s.status[$0]!)" }.joined(separator: ", ")),
            ("errors", "connect \(s.errors.connect), read \(s.errors.read), write \(s.errors.write), timeout \(s.errors.timeout), parse \(s.errors.parse)"),
            ("started", s.startedAt),
        ]
        let table = rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        var ops = ""
        if !s.operations.isEmpty {
            ops = "<h2>Outcomes by function</h2><table>" + s.operations.keys.sorted().map { op in
                "<tr><th>\(escape(op))</th><td>" + s.operations[op]!.keys.sorted().map { "\($0): \(s.operations[op]![$0]!)" }.joined(separator: ", ") + "</td></tr>"
            }.joined() + "</table>"
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>loader: \(escape(s.label)) \(escape(s.scenario))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 980px; }
        table { border-collapse: collapse; margin-bottom: 1.5em; }
        th, td { text-align: left; padding: 3px 12px 3px 0; vertical-align: top; }
        th { color: #555; font-weight: 600; }
        svg { background: #fafafa; border: 1px solid #ddd; margin-bottom: 1.5em; }
        svg text { font-size: 11px; fill: #444; }
        </style></head><body>
        <h1>\(escape(s.label)): \(escape(s.scenario))</h1>
        <table>\(table)</table>
        \(throughput)
        \(latency)
        \(ops)
        </body></html>
        """
    }

    private static func chart(title: String, unit: String, series: [(String, String, [Double])]) -> String {
        let width = 940.0, height = 300.0, left = 70.0, right = 20.0, top = 30.0, bottom = 40.0
        let count = series.map(\.2.count).max() ?? 0
        let maxValue = max(series.flatMap(\.2).max() ?? 0, 1e-9)
        let yMax = niceCeiling(maxValue)
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ i: Int) -> Double { count <= 1 ? left + plotW / 2 : left + plotW * Double(i) / Double(count - 1) }
        func y(_ v: Double) -> Double { top + plotH * (1 - v / yMax) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">"
        svg += "<text x=\"\(left)\" y=\"18\" style=\"font-size:14px;font-weight:600\">\(escape(title))</text>"
        for k in 0...4 {
            let v = yMax * Double(k) / 4
            let yy = y(v)
            svg += "<line x1=\"\(left)\" y1=\"\(f(yy))\" x2=\"\(width - right)\" y2=\"\(f(yy))\" stroke=\"#e3e3e3\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(label(v))</text>"
        }
        let step = max(1, count / 10)
        var i = 0
        while i < count {
            svg += "<text x=\"\(f(x(i)))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">\(i + 1)</text>"
            i += step
        }
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">second of the run</text>"
        svg += "<text x=\"14\" y=\"\(top + plotH / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(top + plotH / 2))\">\(escape(unit))</text>"
        for (n, (name, color, values)) in series.enumerated() {
            let points = values.enumerated().map { "\(f(x($0.offset))),\(f(y($0.element)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>"
            for (k, v) in values.enumerated() {
                svg += "<circle cx=\"\(f(x(k)))\" cy=\"\(f(y(v)))\" r=\"2.5\" fill=\"\(color)\"><title>\(name) s\(k + 1): \(label(v))</title></circle>"
            }
            let lx = width - right - 120 + Double(n) * 60
            svg += "<rect x=\"\(lx)\" y=\"8\" width=\"12\" height=\"12\" fill=\"\(color)\"/><text x=\"\(lx + 16)\" y=\"18\">\(escape(name))</text>"
        }
        return svg + "</svg>"
    }

    private static func niceCeiling(_ v: Double) -> Double {
        let magnitude = pow(10, floor(log10(v)))
        for m in [1.0, 2.0, 2.5, 5.0, 10.0] where m * magnitude >= v { return m * magnitude }
        return 10 * magnitude
    }

    private static func label(_ v: Double) -> String {
        v == 0 ? "0" : v >= 100 ? String(format: "%.0f", v) : v >= 1 ? String(format: "%.1f", v) : String(format: "%.3f", v)
    }

    private static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
