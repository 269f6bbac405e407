#!/usr/bin/env python3
"""Package.swift tells the truth: every module a target's sources import is a dependency the target
declares itself (not one it reaches through another target), and no target declares itself a module it
never imports. Toolchain and platform modules (Foundation, Glibc, Testing, ...) need no declaration.

Usage: check-imports.py [PACKAGE_DIR]   exit 0 when every target is honest, 1 with the list otherwise."""
import json
import os
import re
import subprocess
import sys

SYSTEM_MODULES = {
    "Foundation", "FoundationEssentials", "FoundationInternationalization", "FoundationNetworking",
    "FoundationXML", "Glibc", "Musl", "Darwin", "Android", "Dispatch", "Synchronization", "Testing",
    "XCTest", "Swift", "_Concurrency", "_StringProcessing", "Observation", "CryptoKit", "os", "ucrt",
    "WinSDK", "RegexBuilder", "Distributed", "PackageDescription", "SwiftShims", "Cxx", "CxxStdlib",
}
IMPORT = re.compile(
    r"^\s*(?:@[\w]+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?"
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func|actor)\s+)?([A-Za-z_][\w]*)")


def c99(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    dump = json.loads(subprocess.run(
        ["swift", "package", "dump-package"], cwd=root, check=True, capture_output=True, text=True).stdout)
    targets = {t["name"]: t for t in dump["targets"]}
    modules = {c99(name) for name in targets}
    problems = []
    for name, target in sorted(targets.items()):
        if target.get("type") in ("system", "binary", "plugin"):
            continue
        default = "Tests" if target["type"] == "test" else "Sources"
        path = os.path.join(root, target.get("path") or os.path.join(default, name))
        declared = set()
        for dep in target["dependencies"]:
            for kind in ("byName", "target", "product"):
                if kind in dep:
                    declared.add(c99(dep[kind][0]))
        imported = {}
        for folder, _, files in os.walk(path):
            for file in files:
                if not file.endswith(".swift"):
                    continue
                with open(os.path.join(folder, file), encoding="utf-8") as handle:
                    in_string = False  # inside a multi-line string literal (embedded Python, for one)
                    for line in handle:
                        was_in_string = in_string
                        if line.count('"""') % 2 == 1:
                            in_string = not in_string
                        if was_in_string:
                            continue
                        match = IMPORT.match(line)
                        if match:
                            imported.setdefault(match.group(1), os.path.relpath(os.path.join(folder, file), root))
        for module, where in sorted(imported.items()):
            if module in SYSTEM_MODULES or module == c99(name):
                continue
            if module not in declared:
                kind = "package target" if module in modules else "unknown module"
                problems.append(f"{name}: imports {module} ({kind}, first in {where}) but does not declare it")
        swift_sources = any(f.endswith(".swift") for _, _, fs in os.walk(path) for f in fs)
        for module in sorted(declared - set(imported)):
            executable = targets.get(module, {}).get("type") == "executable" or any(
                t["type"] == "executable" and c99(t["name"]) == module for t in targets.values())
            if swift_sources and not executable and module in modules:
                problems.append(f"{name}: declares {module} but never imports it")
    for problem in problems:
        print(problem)
    print(f"check-imports: {len(problems)} problem(s) in {len(targets)} targets")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
