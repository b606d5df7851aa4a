#!/usr/bin/env python3
"""Summarizes one `make bench` run (benchmarks/bench.sh): every figure as a ratio within the run (medians
where runs are repeated), one table on standard output with each figure's value and target, and
everything as JSON. Input: the folder of per-run JSON (and .cpu) files bench.sh wrote.

`summarize.py --verdict RUN.json --p99-ms 20` prints `pass` or `fail` for one step of the mixed step
search (the rule bench.sh steers by, and the one the table reports with)."""
import argparse, glob, json, os, platform, re, statistics, subprocess, sys
from datetime import datetime, timezone

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIN_ACHIEVED = 0.97        # a step must deliver at least this share of its target rate
MAX_FAILED = 0.001         # ... with at most this share of 5xx answers and transport errors
# The answers of widgets-mixed that are the application's answer, not a failure: every 2xx, and the
# business outcomes of associating an associated pair (409) or removing an absent association (404).
BUSINESS = {"associate_widgets": {"409", "404"}, "remove_association": {"404", "409"}}


def failed_share(run):
    n = run.get("requests", 0)
    fivexx = sum(v for k, v in run.get("status", {}).items() if k.startswith("5"))
    errors = run.get("errors", {}).get("total", 0)
    return (fivexx + errors) / max(n + errors, 1)


def useful(run):
    """The loader's answers that are the application's answer: 2xx and the mix's business 404/409."""
    return sum(n for op, codes in run.get("operations", {}).items() for code, n in codes.items()
               if code.startswith("2") or code in BUSINESS.get(op, ()))


def goodput(run):
    """Useful answers per second (loader); what the tool reports for pgbench and wrk."""
    if run.get("tool") != "loader":
        return run["requests_per_second"]
    return useful(run) / (run.get("duration_seconds") or 1)


def step_passes(run, p99_ms):
    target = run.get("target_rate") or 0
    return bool(run.get("requests")) and run["latency_ms"]["p99"] < p99_ms \
        and run["requests_per_second"] >= MIN_ACHIEVED * target and failed_share(run) <= MAX_FAILED


def load(work):
    runs = {}
    for path in sorted(glob.glob(os.path.join(work, "*.json"))):
        label = os.path.basename(path)[:-5]
        if label == "summary":   # this script's own output, from an earlier pass over the folder
            continue
        with open(path) as f:
            run = json.load(f)
        cpu = os.path.join(work, label + ".cpu")
        if os.path.exists(cpu):
            v = open(cpu).read().split()
            pg0, gw0, ng0, pg1, gw1, ng1 = (int(x) for x in v[:6])
            generator = float(v[6]) + float(v[7])
            seconds = run.get("duration_seconds", 0) + run.get("warmup_seconds", 0)
            # Requests over the same span as the CPU: the loader counts its answers over the whole run
            # (warm-up included; older loader output: rate x span). pgbench: PostgreSQL's CPU is read
            # from when all clients are connected, over the transactions completed after that
            # (cpu_window); pgbench's own over all its transactions.
            if run.get("tool") == "pgbench":
                w = run.get("cpu_window") or {}
                seconds = w.get("seconds") or seconds
                count = w.get("transactions") or run.get("transactions") or run["requests_per_second"] * seconds
                gen_name, gen_count = "pgbench", run.get("transactions") or count
            else:
                # Per admitted request (503s reach no database; without 503s: every answer).
                count = run.get("admitted_responses_total") if "admitted_responses_total" in run else \
                    run.get("responses_total") or run.get("requests_per_second", 0) * seconds
                gen_name, gen_count = "loader", run.get("responses_total") or count
            split = {"postgres": (pg1 - pg0) / CLK_TCK, "gateways": (gw1 - gw0) / CLK_TCK,
                     "nginx": (ng1 - ng0) / CLK_TCK, gen_name: generator}
            run["cpu"] = {k: {"seconds": round(c, 2), "cores": round(c / seconds, 2) if seconds else None,
                              "us_per_request": round(c / ((gen_count if k == gen_name else count) or 1) * 1e6, 1)}
                          for k, c in split.items()}
        runs[label] = run
    return runs


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def median_of(runs, prefix, repeat):
    picked = [runs[f"{prefix}-{r}"] for r in range(1, repeat + 1) if f"{prefix}-{r}" in runs]
    if not picked:
        return None
    rps = [r["requests_per_second"] for r in picked]
    good = [goodput(r) for r in picked]
    # p99 of the admitted answers for the loader (fast 503s would flatter it; the same without 503s).
    p99 = [(r.get("latency_admitted_ms") or r["latency_ms"])["p99"] for r in picked]
    # goodput_per_second: what the ratios use (a gateway answering 503 fast must not look faster).
    out = {"requests_per_second": round(statistics.median(rps), 1), "goodput_per_second": round(statistics.median(good), 1),
           "p99_ms": round(statistics.median(p99), 3), "runs": [round(x, 1) for x in rps], "runs_p99_ms": p99}
    # CPU the load generator itself spent per request (independent of how busy the machine is).
    own = []
    for r in picked:
        if r.get("tool") == "wrk" and r.get("requests"):
            own.append(r["cpu_seconds"] / r["requests"] * 1e6)
        elif "cpu" in r:
            own.append(r["cpu"].get("loader", r["cpu"].get("pgbench"))["us_per_request"])
    if own:
        out["generator_cpu_us_per_request"] = round(statistics.median(own), 2)
    if picked[0].get("tool") == "loader":
        status = {}
        for r in picked:
            for code, n in r["status"].items():
                status[code] = status.get(code, 0) + n
        out["status"] = status
        out["errors"] = sum(r.get("errors", {}).get("total", 0) for r in picked)
    cpus = [r["cpu"] for r in picked if "cpu" in r]
    if cpus:
        out["cpu_us_per_request"] = {k: round(med(c[k]["us_per_request"] for c in cpus), 1) for k in cpus[0]}
        out["cpu_cores"] = {k: round(med(c[k]["cores"] for c in cpus), 2) for k in cpus[0]}
    if picked[0].get("tool") == "pgbench":
        out["failed"] = sum(r.get("failed", 0) for r in picked)
    return out


def div(a, b, digits=3):
    return round(a / b, digits) if a is not None and b else None


def rps(x):
    return x["goodput_per_second"] if x else None


def shed(x):
    """', N% 503' when a loader run got 503s."""
    if not x or not x.get("status"):
        return ""
    n = sum(x["status"].values())
    k = x["status"].get("503", 0)
    return f", {100 * k / n:.1f}% 503" if k else ""


def cpu_of(x, component):
    return x.get("cpu_us_per_request", {}).get(component) if x else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work", nargs="?"); ap.add_argument("output", nargs="?")
    ap.add_argument("--verdict", metavar="RUN_JSON", help="print pass/fail for one step of the step search")
    ap.add_argument("--p99-ms", type=float, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=0); ap.add_argument("--database", default="")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=float, default=None); ap.add_argument("--step-duration", type=float, default=None)
    ap.add_argument("--rate-duration", type=float, default=None); ap.add_argument("--pairs-per-client", type=int, default=None)
    a = ap.parse_args()
    if a.verdict:
        with open(a.verdict) as f:
            print("pass" if step_passes(json.load(f), a.p99_ms) else "fail")
        return 0
    if not a.work or not a.output:
        ap.error("WORK and OUTPUT are required")

    runs = load(a.work)
    m = {k: median_of(runs, k, a.repeat) for k in
         ["static-loader", "static-wrk", "add-pgbench", "add-gateway", "add-nginx",
          "get-pgbench", "get-gateway", "get-nginx", "mixed-pgbench"]}

    # The step search: every step, and the best one that passed.
    steps = sorted((r for k, r in runs.items() if re.fullmatch(r"mixed-step-\d+", k)),
                   key=lambda r: int(r["label"].rsplit("-", 1)[1]))
    step_rows = [{"step": int(r["label"].rsplit("-", 1)[1]), "target_rate": r["target_rate"],
                  "achieved_rate": round(r["requests_per_second"], 1), "p99_ms": r["latency_ms"]["p99"],
                  "failed_share": round(failed_share(r), 5), "passed": step_passes(r, a.p99_ms)} for r in steps]
    passed = [r for r in steps if step_passes(r, a.p99_ms)]
    best = max(passed, key=lambda r: r["target_rate"]) if passed else None
    sustainable = best["target_rate"] if best else 0.0

    over = runs.get("mixed-2x")
    overload = None
    if over:
        window = over["duration_seconds"] or 1
        ok2xx = sum(n for code, n in over["status"].items() if code.startswith("2"))
        good = useful(over)
        answers = over["requests"]
        n503 = over["status"].get("503", 0)
        adm = over.get("latency_admitted_ms") or over["latency_ms"]   # older loaders: all answers
        overload = {"target_rate": over["target_rate"], "answered_per_second": round(answers / window, 1),
                    "goodput_per_second": round(good / window, 1), "ok_2xx_per_second": round(ok2xx / window, 1),
                    "goodput_over_sustainable": div(good / window, sustainable),
                    "share_503": round(n503 / max(answers, 1), 4), "transport_errors": over["errors"]["total"],
                    "admitted_latency_ms": adm, "latency_ms": over["latency_ms"], "status": over["status"],
                    "cpu": over.get("cpu")}

    # CPU per request: PostgreSQL through one gateway against PostgreSQL per pgbench transaction.
    pg_add = div(cpu_of(m["add-gateway"], "postgres"), cpu_of(m["add-pgbench"], "postgres"))
    pg_get = div(cpu_of(m["get-gateway"], "postgres"), cpu_of(m["get-pgbench"], "postgres"))
    mixed_cpu = best.get("cpu") if best else None
    gw_over_pg = div(mixed_cpu["gateways"]["us_per_request"], mixed_cpu["postgres"]["us_per_request"]) if mixed_cpu else None

    def fig(key, name, value, target, detail):
        op, bound = target.split()
        bound = float(bound)
        met = None if value is None else {"<=": value <= bound, ">=": value >= bound, "<": value < bound}[op]
        return {"key": key, "figure": name, "value": value, "target": target, "met": met, "detail": detail}

    def us(x, component):
        v = cpu_of(x, component)
        return f"{v:,.0f}" if v is not None else "-"

    def r0(x):
        return f"{x:,.0f}" if x is not None else "-"

    figures = [
        fig("gateway_cpu_over_postgres_cpu_mixed", "gateway CPU / PostgreSQL CPU per request, mixed @ sustainable rate",
            gw_over_pg, "<= 0.15",
            (f"gateways {mixed_cpu['gateways']['us_per_request']:,.0f} us / PostgreSQL {mixed_cpu['postgres']['us_per_request']:,.0f} us "
             f"per request at {sustainable:,.0f} req/s (nginx {mixed_cpu['nginx']['us_per_request']:,.0f}, loader {mixed_cpu['loader']['us_per_request']:,.0f})")
            if mixed_cpu else "no step passed"),
        fig("postgres_cpu_gateway_over_pgbench_add", "PostgreSQL CPU per call, 1 gateway / pgbench, add_widget", pg_add, "<= 1.2",
            f"{us(m['add-gateway'], 'postgres')} us / {us(m['add-pgbench'], 'postgres')} us (gateway {us(m['add-gateway'], 'gateways')} us, pgbench {us(m['add-pgbench'], 'pgbench')} us)"),
        fig("postgres_cpu_gateway_over_pgbench_get", "PostgreSQL CPU per call, 1 gateway / pgbench, get_widget", pg_get, "<= 1.2",
            f"{us(m['get-gateway'], 'postgres')} us / {us(m['get-pgbench'], 'postgres')} us (gateway {us(m['get-gateway'], 'gateways')} us, pgbench {us(m['get-pgbench'], 'pgbench')} us)"),
        fig("add_gateway_over_pgbench", "add_widget: loader -> 1 gateway / pgbench", div(rps(m["add-gateway"]), rps(m["add-pgbench"])), ">= 0.9",
            f"{r0(rps(m['add-gateway']))} / {r0(rps(m['add-pgbench']))} req/s" + (f", p99 {m['add-gateway']['p99_ms']:.1f} / {m['add-pgbench']['p99_ms']:.1f} ms" if m["add-gateway"] and m["add-pgbench"] else "") + shed(m["add-gateway"])),
        fig("add_nginx_over_pgbench", "add_widget: loader -> nginx -> 2 gateways / pgbench", div(rps(m["add-nginx"]), rps(m["add-pgbench"])), ">= 0.85",
            f"{r0(rps(m['add-nginx']))} / {r0(rps(m['add-pgbench']))} req/s" + (f", p99 {m['add-nginx']['p99_ms']:.1f} ms" if m["add-nginx"] else "") + shed(m["add-nginx"])),
        fig("get_gateway_over_pgbench", "get_widget: loader -> 1 gateway / pgbench", div(rps(m["get-gateway"]), rps(m["get-pgbench"])), ">= 0.85",
            f"{r0(rps(m['get-gateway']))} / {r0(rps(m['get-pgbench']))} req/s" + (f", p99 {m['get-gateway']['p99_ms']:.1f} / {m['get-pgbench']['p99_ms']:.1f} ms" if m["get-gateway"] and m["get-pgbench"] else "") + shed(m["get-gateway"])),
        fig("get_nginx_over_pgbench", "get_widget: loader -> nginx -> 2 gateways / pgbench", div(rps(m["get-nginx"]), rps(m["get-pgbench"])), ">= 0.7",
            f"{r0(rps(m['get-nginx']))} / {r0(rps(m['get-pgbench']))} req/s" + (f", p99 {m['get-nginx']['p99_ms']:.1f} ms" if m["get-nginx"] else "") + shed(m["get-nginx"])),
        fig("mixed_sustainable_over_ceiling", f"mixed: sustainable rate (p99 < {a.p99_ms:g} ms via nginx) / pgbench mixed ceiling",
            div(sustainable, rps(m["mixed-pgbench"])), ">= 0.7",
            f"{sustainable:,.0f} req/s (p99 {best['latency_ms']['p99']:.1f} ms) / {r0(rps(m['mixed-pgbench']))} tps" if best
            else f"no step passed / {r0(rps(m['mixed-pgbench']))} tps"),
        fig("overload_goodput_over_sustainable", "at 2x sustainable: goodput / sustainable rate",
            overload["goodput_over_sustainable"] if overload else None, ">= 0.9",
            (f"{overload['goodput_per_second']:,.0f} answers/s (2xx {overload['ok_2xx_per_second']:,.0f}/s, plus the mix's 404/409) "
             f"offered {overload['target_rate']:,.0f}; 503: {100 * overload['share_503']:.1f}%, transport errors {overload['transport_errors']}")
            if overload else "not run"),
        fig("overload_admitted_p99_ms", "at 2x sustainable: p99 of answered (non-503) requests, ms",
            overload["admitted_latency_ms"]["p99"] if overload else None, "< 100",
            (f"p50 {overload['admitted_latency_ms']['p50']:.1f} ms, p99.9 {overload['admitted_latency_ms']['p999']:.1f} ms; "
             f"all answers p99 {overload['latency_ms']['p99']:.1f} ms") if overload else "not run"),
        fig("static_loader_over_wrk", "check: static 204, loader / wrk (the loader is not the limit)",
            div(rps(m["static-loader"]), rps(m["static-wrk"])), ">= 0.8",
            f"{r0(rps(m['static-loader']))} / {r0(rps(m['static-wrk']))} req/s"
            + (f"; CPU per request loader {m['static-loader'].get('generator_cpu_us_per_request')} us, wrk {m['static-wrk'].get('generator_cpu_us_per_request')} us"
               if m["static-loader"] and m["static-wrk"] else "")),
    ]

    summary = {
        "figures": {f["key"]: {k: v for k, v in f.items() if k != "key"} for f in figures},
        "static": {"wrk": m["static-wrk"], "loader": m["static-loader"]},
        "add_widget": {"pgbench": m["add-pgbench"], "gateway": m["add-gateway"], "nginx": m["add-nginx"]},
        "get_widget": {"pgbench": m["get-pgbench"], "gateway": m["get-gateway"], "nginx": m["get-nginx"]},
        "mixed": {"pgbench_ceiling": m["mixed-pgbench"], "p99_target_ms": a.p99_ms,
                  "step_rule": f"p99 < {a.p99_ms:g} ms, achieved >= {MIN_ACHIEVED:.0%} of the rate, <= {MAX_FAILED:.1%} 5xx or transport errors",
                  "steps": step_rows, "sustainable_rate": sustainable,
                  "sustainable_run": ({"label": best["label"], "latency_ms": best["latency_ms"], "status": best["status"],
                                       "achieved_rate": round(best["requests_per_second"], 1), "cpu": best.get("cpu")} if best else None),
                  "overload": overload},
    }
    pg_version = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or None
    except OSError:
        pass
    doc = {"started_at": os.path.basename(os.path.normpath(a.work)),   # .data/bench/<stamp> "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "commit": commit,
           "machine": {"cores": os.cpu_count(), "kernel": platform.release(), "psql": pg_version,
                       "load_average": [round(x, 2) for x in os.getloadavg()],
                       "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
           "settings": {"repeat": a.repeat, "connections": a.connections, "database": a.database, "seeded_widgets": a.seeds,
                        "duration_seconds": a.duration, "step_duration_seconds": a.step_duration,
                        "rate_duration_seconds": a.rate_duration, "pgbench_pairs_per_client": a.pairs_per_client},
           "summary": summary, "runs": runs}
    with open(a.output, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print(f"make bench {doc['started_at']}: medians of {a.repeat} run(s) of {a.duration or '?'} s, {a.connections} connections, "
          f"{a.seeds:,} seeded widgets ({a.database}), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    w = max(len(f["figure"]) for f in figures)
    print(f"{'figure':<{w}}  {'value':>7}  {'target':<8}  {'result':<7}  from")
    for f in figures:
        v = "-" if f["value"] is None else f"{f['value']:.2f}" if f["value"] < 100 else f"{f['value']:.0f}"
        met = "-" if f["met"] is None else "met" if f["met"] else "NOT met"
        print(f"{f['figure']:<{w}}  {v:>7}  {f['target']:<8}  {met:<7}  {f['detail']}")
    print()
    print(f"step search via nginx ({summary['mixed']['step_rule']}): "
          + ", ".join(f"{s['target_rate']:,.0f} {'pass' if s['passed'] else 'fail'} (p99 {s['p99_ms']:.1f} ms"
                      + (f", {s['achieved_rate']:,.0f} achieved" if s['achieved_rate'] < MIN_ACHIEVED * s['target_rate'] else "")
                      + (f", {100 * s['failed_share']:.1f}% failed" if s['failed_share'] > MAX_FAILED else "") + ")"
                      for s in step_rows))
    for label, x in (("add_widget", m["add-pgbench"]), ("get_widget", m["get-pgbench"]), ("mixed", m["mixed-pgbench"])):
        if x and x.get("failed"):
            print(f"pgbench {label}: {x['failed']} failed transactions")
    bad = [k for k, v in runs.items() if v.get("tool") == "loader" and v["errors"]["total"] and k != "mixed-2x"]
    if bad:
        print("transport errors in: " + ", ".join(bad))
    print(f"written: {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
