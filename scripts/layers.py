#!/usr/bin/env python3
"""Checks that GatewayCore's folders are layers: a folder may use what lower folders declare, never
what a higher one does (no cycle between two folders). Prints the folder graph; exits 1 on a violation.

Order, bottom to top (docs/gateway-core.md): files at the module's root that every layer uses
(Observation, APIError, PGError) are "Base"; a type two layers need lives in the lower one."""
import os, re, sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "Sources", "GatewayCore")
ORDER = ["Base", "Metrics", "Request", "SQL", "Auth", "Catalog", "Config", "Plan", "Database", "Response",
         "Error", "OpenAPI", "Migration", "Pipeline", "Server"]
# Root-level files and the layer they belong to (others: Base, used by every layer).
ROOT_FILES = {"Pipeline.swift": "Pipeline", "CatalogStore.swift": "Pipeline", "PGListener.swift": "Pipeline",
              "ServerTiming.swift": "Pipeline", "Pipeline+Listen.swift": "Pipeline", "Config.swift": "Config", "Config+File.swift": "Config",
              "Config+Help.swift": "Config", "Config+Keys.swift": "Config", "Config+Secrets.swift": "Config", "Config+Reload.swift": "Config",
              "Config+PostgRESTDefaults.swift": "Config",
              "ConfigError.swift": "Config"}
DECL = re.compile(r"^(?:public |internal |private |fileprivate |final |indirect )*(?:class|struct|enum|protocol|typealias|actor)\s+([A-Z]\w*)", re.M)
FUNC = re.compile(r"^(?:public |internal |@inline\(__always\)\s*)*func\s+([a-z]\w*)", re.M)

def layer(path):
    rel = os.path.relpath(path, ROOT)
    if os.sep in rel:
        return rel.split(os.sep)[0]
    return ROOT_FILES.get(rel, "Base")

files = {}
for dirpath, _, names in os.walk(ROOT):
    for name in names:
        if name.endswith(".swift"):
            path = os.path.join(dirpath, name)
            files[path] = re.sub(r"//.*", "", open(path, encoding="utf-8").read())

owner = {}
for path, text in files.items():
    for name in DECL.findall(text) + FUNC.findall(text):
        owner.setdefault(name, layer(path))

edges = {}
for path, text in files.items():
    here = layer(path)
    for word in set(re.findall(r"\b[A-Za-z_]\w*\b", text)):
        there = owner.get(word)
        if there and there != here:
            edges.setdefault((here, there), set()).add(f"{os.path.relpath(path, ROOT)} uses {word}")

bad = 0
# Each C library has one owner folder.
OWNERS = {"CLibPQ": "Database", "CMicroHTTPD": "Server", "CMHDShim": "Server"}
for path, text in files.items():
    for module in re.findall(r"^import (\w+)", text, re.M):
        if module in OWNERS and layer(path) != OWNERS[module]:
            bad += 1
            print(f"layers: not ok - {os.path.relpath(path, ROOT)} imports {module} (only {OWNERS[module]}/ may)")
# ... and one owner type within it: only these files call the library's functions (the others use its
# types and constants, and the callbacks it calls back).
CALLERS = {r"\bPQ[a-z]\w*\(": ("libpq", re.compile(r"Database/PGConnection[^/]*\.swift$|/PGError[^/]*\.swift$")),
           r"\bMHD_[a-z]\w*\(|\bgw_(start_daemon|daemon_\w+)\(": ("libmicrohttpd", re.compile(r"Server/MHDDaemon\.swift$"))}
for path, text in files.items():
    for pattern, (library, allowed) in CALLERS.items():
        code = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))
        if re.search(pattern, code) and not allowed.search(path):
            bad += 1
            print(f"layers: not ok - {os.path.relpath(path, ROOT)} calls {library} itself (only {allowed.pattern} may)")
for (here, there), uses in sorted(edges.items()):
    up = ORDER.index(there) > ORDER.index(here)
    if up:
        bad += 1
        print(f"layers: not ok - {here} uses {there} (a higher layer): " + "; ".join(sorted(uses)[:4]))
print(f"layers: {'ok' if not bad else 'not ok'} - {len(edges)} folder dependencies, {bad} pointing up "
      f"(order {' < '.join(ORDER)})")
sys.exit(1 if bad else 0)
