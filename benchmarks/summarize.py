#!/usr/bin/env python3
"""Summarizes one `make bench` run (benchmarks/bench.sh): medians, ratios against the ceilings, one table
on standard output, and everything as JSON. Input: the folder of per-run JSON files bench.sh wrote."""
import argparse, glob, json, os, platform, statistics, subprocess, sys
from datetime import datetime, timezone

CLK_TCK = os.sysconf("SC_CLK_TCK")


def load(work):
    runs = {}
    for path in sorted(glob.glob(os.path.join(work, "*.json"))):
        label = os.path.basename(path)[:-5]
        with open(path) as f:
            run = json.load(f)
        cpu = os.path.join(work, label + ".cpu")
        if os.path.exists(cpu):
            v = open(cpu).read().split()
            pg0, gw0, ng0, pg1, gw1, ng1 = (int(x) for x in v[:6])
            loader = float(v[6]) + float(v[7])
            seconds = run.get("duration_seconds", 0) + run.get("warmup_seconds", 0)
            rps = run.get("requests_per_second", 0) or 1
            split = {"postgres": (pg1 - pg0) / CLK_TCK, "gateways": (gw1 - gw0) / CLK_TCK,
                     "nginx": (ng1 - ng0) / CLK_TCK, "loader": loader}
            run["cpu"] = {k: {"seconds": round(c, 2), "cores": round(c / seconds, 2) if seconds else None,
                              "us_per_request": round(c / seconds / rps * 1e6, 1) if seconds else None}
                          for k, c in split.items()}
        runs[label] = run
    return runs


def median_of(runs, prefix, repeat):
    picked = [runs[f"{prefix}-{r}"] for r in range(1, repeat + 1) if f"{prefix}-{r}" in runs]
    if not picked:
        return None
    rps = [r["requests_per_second"] for r in picked]
    p99 = [r["latency_ms"]["p99"] for r in picked]
    out = {"requests_per_second": round(statistics.median(rps), 1), "p99_ms": round(statistics.median(p99), 3),
           "runs": [round(x, 1) for x in rps], "runs_p99_ms": p99}
    errors = sum(r.get("errors", {}).get("total", 0) for r in picked)
    # CPU the load generator itself spent per request (independent of how busy the machine is).
    own = []
    for r in picked:
        if r.get("tool") == "wrk" and r.get("requests"):
            own.append(r["cpu_seconds"] / r["requests"] * 1e6)
        elif "cpu" in r and r.get("requests"):
            own.append(r["cpu"]["loader"]["seconds"] / (r["requests"] + r["requests_per_second"] * r.get("warmup_seconds", 0)) * 1e6)
    if own:
        out["generator_cpu_us_per_request"] = round(statistics.median(own), 2)
    if picked[0].get("tool") == "loader":
        status = {}
        for r in picked:
            for code, n in r["status"].items():
                status[code] = status.get(code, 0) + n
        out["status"] = status
        out["errors"] = errors
        cpus = [r["cpu"] for r in picked if "cpu" in r]
        if cpus:
            out["cpu_us_per_request"] = {k: round(statistics.median(c[k]["us_per_request"] for c in cpus), 1)
                                         for k in cpus[0]}
    if picked[0].get("tool") == "pgbench":
        out["failed"] = sum(r.get("failed", 0) for r in picked)
    return out


def ratio(a, b):
    return round(a["requests_per_second"] / b["requests_per_second"], 3) if a and b and b["requests_per_second"] else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work"); ap.add_argument("output")
    ap.add_argument("--repeat", type=int, default=3); ap.add_argument("--rates", nargs="*", default=[])
    ap.add_argument("--seeds", type=int, default=0); ap.add_argument("--database", default="")
    ap.add_argument("--connections", type=int, default=64)
    a = ap.parse_args()
    runs = load(a.work)
    m = {k: median_of(runs, k, a.repeat) for k in
         ["static-loader", "static-wrk", "add-pgbench", "add-gateway", "add-nginx", "get-pgbench", "get-gateway", "get-nginx"]}
    summary = {
        "static": {"wrk": m["static-wrk"], "loader": m["static-loader"],
                   "loader_over_wrk": ratio(m["static-loader"], m["static-wrk"]), "target": ">= 0.8"},
        "add_widget": {"pgbench": m["add-pgbench"], "gateway": m["add-gateway"], "nginx": m["add-nginx"],
                       "gateway_over_pgbench": ratio(m["add-gateway"], m["add-pgbench"]),
                       "nginx_over_pgbench": ratio(m["add-nginx"], m["add-pgbench"]),
                       "targets": {"gateway_over_pgbench": ">= 0.85", "nginx_over_pgbench": ">= 0.7"}},
        "get_widget": {"pgbench": m["get-pgbench"], "gateway": m["get-gateway"], "nginx": m["get-nginx"],
                       "gateway_over_pgbench": ratio(m["get-gateway"], m["get-pgbench"]),
                       "nginx_over_pgbench": ratio(m["get-nginx"], m["get-pgbench"])},
        "fixed_rate": [],
    }
    for rate in a.rates:
        r = runs.get(f"mixed-{rate}")
        if r:
            summary["fixed_rate"].append({
                "scenario": "widgets-mixed via nginx", "target_rate": float(rate),
                "achieved_rate": round(r["requests_per_second"], 1), "latency_ms": r["latency_ms"],
                "status": r["status"], "errors": r["errors"]["total"], "cpu": r.get("cpu"),
                "p99_target_ms": 20 if float(rate) <= 5000 else None})
    pg_version = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    commit = None
    try:
        head = open(".git/HEAD").read().strip()
        commit = open(os.path.join(".git", head[5:])).read().strip() if head.startswith("ref: ") else head
    except OSError:
        pass
    doc = {"started_at": os.path.basename(a.output)[:-5], "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "commit": commit,
           "machine": {"cores": os.cpu_count(), "kernel": platform.release(), "psql": pg_version,
                       "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
           "settings": {"repeat": a.repeat, "connections": a.connections, "database": a.database, "seeded_widgets": a.seeds},
           "summary": summary, "runs": runs}
    with open(a.output, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")

    def row(name, x, r=None, target=""):
        if not x:
            return f"{name:<48}{'-':>12}"
        rs = f"{r:.2f}" if r is not None else ""
        return f"{name:<48}{x['requests_per_second']:>12,.0f}{x['p99_ms']:>10.2f}{rs:>8}  {target}"

    print()
    print(f"make bench: medians of {a.repeat} runs, {a.connections} connections, {a.seeds:,} seeded widgets ({a.database})")
    print(f"{'':<48}{'req/s':>12}{'p99 ms':>10}{'ratio':>8}")
    s = summary
    print(row("static 204   wrk (ceiling)", m["static-wrk"], 1.0))
    print(row("static 204   loader", m["static-loader"], s["static"]["loader_over_wrk"], "loader/wrk, target >= 0.8"))
    if m["static-wrk"] and m["static-loader"] and "generator_cpu_us_per_request" in m["static-wrk"] and "generator_cpu_us_per_request" in m["static-loader"]:
        print(f"{'':<50}CPU per request: loader {m['static-loader']['generator_cpu_us_per_request']} us, wrk {m['static-wrk']['generator_cpu_us_per_request']} us")
    print(row("add_widget   pgbench -> SQL function (ceiling)", m["add-pgbench"], 1.0))
    print(row("add_widget   loader -> 1 gateway", m["add-gateway"], s["add_widget"]["gateway_over_pgbench"], "gateway/pgbench, target >= 0.85"))
    print(row("add_widget   loader -> nginx -> 2 gateways", m["add-nginx"], s["add_widget"]["nginx_over_pgbench"], "nginx/pgbench, target >= 0.7"))
    print(row("get_widget   pgbench -> SQL function (ceiling)", m["get-pgbench"], 1.0))
    print(row("get_widget   loader -> 1 gateway", m["get-gateway"], s["get_widget"]["gateway_over_pgbench"], "gateway/pgbench"))
    print(row("get_widget   loader -> nginx -> 2 gateways", m["get-nginx"], s["get_widget"]["nginx_over_pgbench"], "nginx/pgbench"))
    for f in s["fixed_rate"]:
        l = f["latency_ms"]
        verdict = ""
        if f["p99_target_ms"]:
            verdict = "p99 target < 20 ms: " + ("met" if l["p99"] < 20 and f["achieved_rate"] >= 0.97 * f["target_rate"] else "NOT met")
        print(f"{'mixed @ %d req/s via nginx (open loop)' % f['target_rate']:<48}{f['achieved_rate']:>12,.0f}{l['p99']:>10.2f}{'':>8}  "
              f"p50 {l['p50']:.2f} p99.9 {l['p999']:.2f} max {l['max']:.2f} ms; {verdict}")
        if f["cpu"]:
            print(f"{'':<50}CPU us/request: " + ", ".join(f"{k} {v['us_per_request']}" for k, v in f["cpu"].items())
                  + " (cores: " + ", ".join(f"{k} {v['cores']}" for k, v in f["cpu"].items()) + f" of {os.cpu_count()})")
    bad = [k for k, v in runs.items() if v.get("tool") == "loader" and v["errors"]["total"]]
    if bad:
        print("transport errors in: " + ", ".join(bad))
    print(f"written: {a.output}")


if __name__ == "__main__":
    sys.exit(main())
