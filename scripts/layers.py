#!/usr/bin/env python3
"""Checks that GatewayCore's folders are layers: a folder may use what lower folders declare, never
what a higher one does (no cycle between two folders). Prints the folder graph; exits 1 on a violation.

Order, bottom to top (docs/gateway-core.md): files at the module's root that every layer uses
(Observation, APIError) are "Base"; a type two layers need lives in the lower one.
Also checks, in both packages, that each C library has one owner: libpq PGClient's PGConnection and
PGError (and GatewayCore's PGConnection extensions), libmicrohttpd Server/MHDDaemon.swift."""
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
# Each C library has one owner, across both packages (the root's Sources/ and workers/Sources/): only
# these folders import it, and only these files call its functions (the others use its types and
# constants, and the callbacks it calls back).
REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
IMPORTERS = {"CLibPQ": re.compile(r"^Sources/(PGClient|GatewayCore/Database)/"),
             "CMicroHTTPD": re.compile(r"^Sources/GatewayCore/Server/"), "CMHDShim": re.compile(r"^Sources/GatewayCore/Server/")}
CALLERS = {r"\bPQ[a-z]\w*\(": ("libpq", re.compile(r"^Sources/PGClient/|^Sources/GatewayCore/Database/PGConnection[^/]*\.swift$")),
           r"\bMHD_[a-z]\w*\(|\bgw_(start_daemon|daemon_\w+)\(": ("libmicrohttpd", re.compile(r"^Sources/GatewayCore/Server/MHDDaemon\.swift$"))}
swift_files = 0
for top in ("Sources", os.path.join("workers", "Sources")):
    for dirpath, _, names in os.walk(os.path.join(REPO, top)):
        for name in (n for n in names if n.endswith(".swift")):
            swift_files += 1
            path = os.path.relpath(os.path.join(dirpath, name), REPO)
            text = open(os.path.join(REPO, path), encoding="utf-8").read()
            code = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("//"))
            for module in re.findall(r"^import (\w+)", text, re.M):
                if module in IMPORTERS and not IMPORTERS[module].search(path):
                    bad += 1
                    print(f"layers: not ok - {path} imports {module} (only {IMPORTERS[module].pattern} may)")
            for pattern, (library, allowed) in CALLERS.items():
                if re.search(pattern, code) and not allowed.search(path):
                    bad += 1
                    print(f"layers: not ok - {path} calls {library} itself (only {allowed.pattern} may)")
print(f"layers: C libraries checked in {swift_files} Swift files of both packages")
for (here, there), uses in sorted(edges.items()):
    up = ORDER.index(there) > ORDER.index(here)
    if up:
        bad += 1
        print(f"layers: not ok - {here} uses {there} (a higher layer): " + "; ".join(sorted(uses)[:4]))
print(f"layers: {'ok' if not bad else 'not ok'} - {len(edges)} folder dependencies, {bad} violations "
      f"(order {' < '.join(ORDER)})")
sys.exit(1 if bad else 0)
