#!/usr/bin/env python3
"""The record of one `make bench` run kept in the repository: a short Markdown summary written from the
run's summary JSON (which, with the per-run JSON, HTML reports and the perf profile, stays under
.data/bench/<stamp>/, out of git). `record.py RUN_JSON OUT_MD [--profile PROFILE_TXT]`."""
import argparse, json, sys

PROFILE_LINES = 14   # of each section of the perf report: where the gateway's time goes, at a glance


def number(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def medians_table(summary):
    """Each workload's medians: through which path, req/s (useful answers), p99, CPU per request."""
    rows = ["| workload | path | req/s | p99 ms | CPU us/request (PostgreSQL / gateways / nginx / generator) |",
            "|---|---|---:|---:|---|"]
    for workload in ("static", "add_widget", "get_widget"):
        for path, x in (summary.get(workload) or {}).items():
            if not isinstance(x, dict) or "requests_per_second" not in x:   # the oldest runs' layout differs
                continue
            cpu = x.get("cpu_us_per_request") or {}
            generator = cpu.get("loader", cpu.get("pgbench", x.get("generator_cpu_us_per_request")))
            parts = " / ".join(number(v) for v in (cpu.get("postgres"), cpu.get("gateways"), cpu.get("nginx"), generator))
            rows.append(f"| {workload} | {path} | {number(x.get('goodput_per_second', x.get('requests_per_second')))} "
                        f"| {number(x.get('p99_ms'), 1)} | {parts if cpu else '-'} |")
    return rows


def figures_table(figures):
    rows = ["| figure | value | target | result | from |", "|---|---:|---|---|---|"]
    for f in figures.values():
        value = "-" if f["value"] is None else f"{f['value']:.2f}" if f["value"] < 100 else f"{f['value']:.0f}"
        met = "-" if f["met"] is None else "met" if f["met"] else "not met"
        rows.append(f"| {f['figure']} | {value} | {f['target']} | {met} | {f['detail']} |")
    return rows


def profile_excerpt(text):
    """The first lines of each section (`== ...`) of bench.sh's perf report."""
    out, kept = [], 0
    for line in (l.rstrip() for l in text.splitlines()):
        if line.startswith("== ") or not out:
            out.append(line)
            kept = 0
        elif kept < PROFILE_LINES:
            out.append(line)
            kept += 1
    return out


def markdown(doc, profile=None):
    summary, settings, machine = doc.get("summary", {}), doc.get("settings", {}), doc.get("machine", {})
    load = machine.get("load_average") or []
    lines = [f"# make bench {doc.get('started_at', '')}", "",
             f"Commit `{(doc.get('commit') or 'unknown')[:12]}`; {machine.get('cores', '?')} cores, "
             f"{machine.get('memory_gib', '?')} GiB, {machine.get('psql', '')}; load average at the end "
             f"{', '.join(str(x) for x in load) or '?'} (the machine is shared: compare figures within one run).",
             f"Medians of {settings.get('repeat', '?')} runs of {settings.get('duration_seconds', '?')} s at "
             f"{settings.get('connections', '?')} connections; {number(settings.get('seeded_widgets'))} seeded widgets.", ""]
    if summary.get("figures"):
        lines += ["## Figures (ratios within this run)", ""] + figures_table(summary["figures"]) + [""]
    mixed = summary.get("mixed") or {}
    if mixed.get("steps"):
        steps = ", ".join(f"{s['target_rate']:,.0f} {'pass' if s['passed'] else 'fail'} (p99 {s['p99_ms']:.1f} ms)"
                          for s in mixed["steps"])
        lines += [f"Step search through nginx ({mixed.get('step_rule', '')}): {steps}; "
                  f"sustainable rate {number(mixed.get('sustainable_rate'))} req/s.", ""]
    lines += ["## Medians", ""] + medians_table(summary) + [""]
    if profile:
        lines += ["## Gateway profile (perf, at twice the sustainable rate)", "", "```"] + profile_excerpt(profile) + ["```", ""]
    lines.append("Raw outputs (per-run JSON, HTML latency reports, the whole profile) stay under `.data/bench/` on the machine that ran it.")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_json"); ap.add_argument("output")
    ap.add_argument("--profile")
    a = ap.parse_args()
    with open(a.run_json) as f:
        doc = json.load(f)
    profile = open(a.profile).read() if a.profile else None
    with open(a.output, "w") as f:
        f.write(markdown(doc, profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
