#!/usr/bin/env python3
"""Layering check: which headers each library folder may include.

ARCHITECTURE.md states the layers and the rules between them; this script
holds them to it. Every `#include "..."` in a library source (LAYERS below
names the folders, and a single file where it has a rule of its own) is
resolved the way the compiler resolves it (the including file's folder,
then INCLUDE_DIRS) to a path from the repo root, and must start with one
of the prefixes its layer allows. A file's layer is the row with the
longest matching prefix. Angle-bracket includes and
files outside the library folders (tools/, bench/, tests/, integrations/,
examples/) are not checked.

  layers.py [--root DIR]   check a tree (default: this repo)
  layers.py --self-test    check a small built tree with one deliberate
                           violation per rule; expect exactly those

When a folder moves, edit the names just below; the rows use them.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from typing import NamedTuple

# --- The table -------------------------------------------------------------

COMMON = "common/"        # status, log, config registry, random, ...
CORE = "transports/ldt/core/"  # sans-I/O reliability engine
TRANSPORT_API = ["transports/transport.h", "transports/tags.h"]
PUBLIC_API = "include/ltcc/"   # written "ltcc/..." (include/ is on the path)

# Folders the compiler searches for "..." includes after the including
# file's own folder (the library's target_include_directories).
INCLUDE_DIRS = ["", "include/"]

SOURCE_SUFFIXES = (".h", ".hpp", ".hh", ".c", ".cc", ".cpp", ".cxx")


class Layer(NamedTuple):
    folder: str      # files under this prefix belong to the layer
    allow: list      # include prefixes (folders end in "/") it may use
    rule: str        # where ARCHITECTURE.md says so
    why: str         # short reason, printed with each violation
    # Sharper reasons for particular targets: [(prefix, rule, why)].
    because: list = []


# Wherever it is included from below tools/.
TOOLS_REASON = ("tools/", "rule 9", "nothing below tools/ knows it exists")

LAYERS = [
    # Layer diagram: common is the bottom; "every layer may use it; it
    # uses nothing of ltcc".
    Layer(COMMON, [COMMON], "layer diagram",
          f"{COMMON[:-1]} is the bottom layer and uses nothing else of ltcc"),
    # Rule 1: the core includes only itself, status.h and log.h (no socket,
    # no clock, no environment: config.h reads LTCC_* variables).
    Layer(CORE, [CORE, COMMON + "status.h", COMMON + "log.h"], "rule 1",
          "the sans-I/O core includes only itself, status.h and log.h"),
    # Rule 2 ("transports never see a reduction") and the layer diagram:
    # wires and the threaded transport sit below collectives, src/ and the
    # public API; rule 9: nothing below tools/ knows it exists.
    Layer("transports/", ["transports/", COMMON], "layer diagram",
          "transports sit below collectives, src/ and the public API",
          [("collectives/", "rule 2", "transports never see a reduction"),
           TOOLS_REASON]),
    # Rule 2: collectives see transports/transport.h (and its tag table)
    # and never a packet; the public API is src/c_api.cc's to map.
    Layer("collectives/", ["collectives/", *TRANSPORT_API, COMMON], "rule 2",
          "collectives see transports/transport.h and never a packet",
          [(PUBLIC_API, "rule 2",
            "collectives see transports/transport.h, not the public API"),
           TOOLS_REASON]),
    # Layer diagram ("sim/: discrete-event fabric simulator"): the fabric
    # models links and queues alone, with the header-only random.h.
    Layer("sim/fabric/", ["sim/fabric/", COMMON + "random.h"],
          "layer diagram", "the fabric models the network alone"),
    # Layer diagram ("sim/: ... simulator driving ldt/core unchanged"; rule
    # 1 names the simulator among the core's users): the driver runs the
    # core and the collectives, not the UDP transport or the communicator.
    Layer("sim/driver/",
          ["sim/", "collectives/", *TRANSPORT_API, CORE, COMMON],
          "layer diagram", "the simulator drives ldt/core unchanged, not "
          "the threaded transport or the communicator", [TOOLS_REASON]),
    # Rule 9: ltcc-sim's main (one file) is a tool on the simulator, like
    # those in tools/, and reads its options with tools/common/cli.h (the
    # tools' one option syntax). The rest of the driver sees no tool.
    Layer("sim/driver/ltcc_sim.cc",
          ["sim/", "collectives/", *TRANSPORT_API, CORE, COMMON,
           "tools/common/cli.h"],
          "rule 9", "ltcc-sim's main is a tool on the simulator; of tools/ it "
          "uses the option syntax alone"),
    # Layer diagram: "public API only (C and C++); nothing internal leaks".
    Layer(PUBLIC_API, [PUBLIC_API], "layer diagram",
          "the public API lets nothing internal leak out"),
    # Layer diagram: src/ is the top of the library and glues the rest;
    # rule 9: tools sit on top of it; the simulator, tests, benchmarks and
    # integrations are built on the library, not in it.
    Layer("src/", ["src/", COMMON, "collectives/", "transports/", PUBLIC_API],
          "layer diagram", "src/ is the top of the library; tools, sim, "
          "tests, bench and integrations are built on it", [TOOLS_REASON]),
]

# --- The check -------------------------------------------------------------

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)


def blank_comments(text):
    """Replaces comments by spaces, keeping newlines (so line numbers hold)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "'" and not (i and text[i - 1].isalnum())):
            # A string or character literal (a ' after a digit or letter is a
            # digit separator or a prefix, and does not open one).
            j = i + 1
            while j < n and text[j] not in (c, "\n"):
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def layer_of(path):
    best = None
    for layer in LAYERS:
        if path.startswith(layer.folder):
            if best is None or len(layer.folder) > len(best.folder):
                best = layer
    return best


def resolve(root, src, spelled):
    """Repo-relative path of an include, found the way the compiler would."""
    here = os.path.dirname(src)
    for base in [here] + [d.rstrip("/") for d in INCLUDE_DIRS]:
        cand = os.path.normpath(os.path.join(base, spelled))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    # Not there (generated, or not written yet): the first search folder
    # whose subfolder exists, else the spelling itself.
    for base in [d.rstrip("/") for d in INCLUDE_DIRS]:
        cand = os.path.normpath(os.path.join(base, spelled))
        folder = os.path.dirname(cand)
        if folder and os.path.isdir(os.path.join(root, folder)):
            return cand
    return os.path.normpath(spelled)


def allowed(layer, target):
    return any(target == a or (a.endswith("/") and target.startswith(a))
               for a in layer.allow)


def reason(layer, target):
    for prefix, rule, why in layer.because:
        if target.startswith(prefix):
            return rule, why
    return layer.rule, layer.why


def scanned_files(root):
    tops = sorted({layer.folder.split("/")[0] for layer in LAYERS})
    for top in tops:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_SUFFIXES):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def check(root):
    """Returns (files, includes, violation lines)."""
    nfiles, nincludes, bad = 0, 0, []
    for src in scanned_files(root):
        src = src.replace(os.sep, "/")
        layer = layer_of(src)
        nfiles += 1
        if layer is None:
            bad.append(f"{src}:1: in no layer of tests/lint/layers.py's "
                       f"table (add a row for its folder)")
            continue
        with open(os.path.join(root, src), encoding="utf-8",
                  errors="replace") as f:
            text = blank_comments(f.read())
        for m in INCLUDE_RE.finditer(text):
            nincludes += 1
            spelled = m.group(1)
            target = resolve(root, src, spelled).replace(os.sep, "/")
            if allowed(layer, target):
                continue
            line = text.count("\n", 0, m.start()) + 1
            rule, why = reason(layer, target)
            bad.append(f'{src}:{line}: {layer.folder.rstrip("/")} may not '
                       f'include "{spelled}" (ARCHITECTURE.md {rule}: {why})')
    return nfiles, nincludes, bad


def main_check(root):
    nfiles, nincludes, bad = check(root)
    for line in bad:
        print(line)
    print(f"layers: {nfiles} files, {nincludes} includes checked, "
          f"{len(bad)} violation{'' if len(bad) == 1 else 's'}")
    return 1 if bad else 0


# --- Self-test -------------------------------------------------------------

# (file, included spelling) that must pass.
SELF_TEST_ALLOWED = [
    (COMMON + "config.h", COMMON + "status.h"),
    (COMMON + "log.cc", "log.h"),                     # same folder, unprefixed
    (CORE + "engine.cc", CORE + "engine.h"),
    (CORE + "engine.cc", "connection.h"),
    (CORE + "engine.cc", COMMON + "log.h"),
    (CORE + "engine.h", COMMON + "status.h"),
    ("transports/ldt/udp/udp_wire.h", CORE + "engine.h"),
    ("transports/ldt/udp/udp_wire.h", COMMON + "config.h"),
    ("transports/ldt/udp/udp_wire.h", "../wire.h"),  # transports/ldt/wire.h
    ("transports/ldt/ldt_transport.h", "transports/transport.h"),
    ("collectives/reduce.cc", "collectives/reduce.h"),
    ("collectives/reduce.cc", "transports/transport.h"),
    ("collectives/reduce.cc", "transports/tags.h"),
    ("collectives/reduce.cc", COMMON + "log.h"),
    ("sim/fabric/fabric.h", COMMON + "random.h"),
    ("sim/fabric/fabric.h", "sim/fabric/event_queue.h"),
    ("sim/driver/world.h", CORE + "engine.h"),
    ("sim/driver/world.h", "collectives/reduce.h"),
    ("sim/driver/world.h", "sim/fabric/fabric.h"),
    ("sim/driver/ltcc_sim.cc", "sim/driver/world.h"),
    ("sim/driver/ltcc_sim.cc", "tools/common/cli.h"),
    ("include/ltcc/ltcc.hpp", "ltcc/ltcc.h"),
    ("src/comm.h", "ltcc/ltcc.h"),
    ("src/comm.h", "transports/ldt/udp/udp_wire.h"),
    ("src/comm.h", "collectives/reduce.h"),
    ("src/comm.h", COMMON + "config.h"),
]

# (file, included spelling, rule) that must be reported: each row of the
# table, and each rule, broken at least once.
SELF_TEST_VIOLATIONS = [
    (COMMON + "status.cc", "transports/transport.h", "layer diagram"),
    (CORE + "engine.cc", COMMON + "config.h", "rule 1"),
    (CORE + "engine.h", "../udp/udp_wire.h", "rule 1"),
    ("transports/ldt/udp/udp_wire.h", "collectives/reduce.h", "rule 2"),
    ("transports/ldt/udp/udp_wire.h", "tools/diag/probe.h", "rule 9"),
    ("transports/transport.h", "ltcc/ltcc.h", "layer diagram"),
    ("collectives/reduce.cc", "ltcc/ltcc.h", "rule 2"),
    ("collectives/reduce.cc", "transports/ldt/udp/udp_wire.h", "rule 2"),
    ("sim/fabric/fabric.h", COMMON + "log.h", "layer diagram"),
    ("sim/driver/world.h", "transports/ldt/udp/udp_wire.h", "layer diagram"),
    ("sim/driver/world.h", "tools/common/cli.h", "rule 9"),
    ("sim/driver/ltcc_sim.cc", "tools/diag/probe.h", "rule 9"),
    ("include/ltcc/ltcc.hpp", COMMON + "status.h", "layer diagram"),
    ("src/comm.h", "sim/driver/world.h", "layer diagram"),
    ("src/comm.h", "tools/diag/probe.h", "rule 9"),
]

# Text that must not count: not a quoted include in effect in a library
# file. (The violations above follow it, so a comment or literal that
# swallowed the rest of the file would show.)
SELF_TEST_IGNORED = [
    (COMMON + "status.cc", "#include <collectives/reduce.h>"),
    (COMMON + "status.cc", '// #include "collectives/reduce.h"'),
    (COMMON + "status.cc", '/* Usage:\n#include "collectives/reduce.h"\n*/'),
    (COMMON + "status.cc", 'const char* kGlob = "/*";'),
    (COMMON + "status.cc", "constexpr int kMax = 1'000'000; char q = '\"';"),
    ("tools/diag/probe.h", '#include "src/comm.h"'),
    ("tests/unit/x_test.cc", '#include "transports/ldt/core/engine.h"'),
]

# A file in a library folder that no row covers.
SELF_TEST_NO_LAYER = "sim/replay/replay.cc"


def write_tree(root, with_violations):
    """Writes the self-test tree; returns the expected report entries."""
    lines, expect = {}, set()

    def add(path, text):
        lines.setdefault(path, []).extend(text.split("\n"))
        return len(lines[path])

    for src, spelled in SELF_TEST_ALLOWED:
        add(src, f'#include "{spelled}"')
    for src, text in SELF_TEST_IGNORED:
        add(src, text)
    for src, spelled, rule in SELF_TEST_VIOLATIONS:
        if with_violations:
            expect.add((src, add(src, f'#include "{spelled}"'), spelled, rule))
    if with_violations:
        add(SELF_TEST_NO_LAYER, '#include "sim/fabric/fabric.h"')
        expect.add((SELF_TEST_NO_LAYER, 1, None, None))
    # Every included file exists, so the includes resolve as they would
    # for the compiler ("../x" and unprefixed names against the includer).
    targets = [s for _, s in SELF_TEST_ALLOWED]
    targets += [s for _, s, _ in SELF_TEST_VIOLATIONS]
    targets += [CORE + "connection.h", "transports/ldt/wire.h"]
    for path in targets + list(lines):
        if path.startswith(".") or "/" not in path:
            continue
        if path.startswith("ltcc/"):
            path = "include/" + path
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        open(os.path.join(root, path), "a", encoding="utf-8").close()
    for path, text in lines.items():
        with open(os.path.join(root, path), "w", encoding="utf-8") as f:
            f.write("\n".join(text) + "\n")
    return expect


REPORT_RE = re.compile(r'^(\S+):(\d+): (\S+) may not include "([^"]+)" '
                       r'\(ARCHITECTURE\.md (rule \d+|layer diagram): .+\)$')
NO_LAYER_RE = re.compile(r"^(\S+):(\d+): in no layer of ")


def run_checker(root):
    """Runs this script on root: (exit status, report, summary, the rest)."""
    run = subprocess.run([sys.executable, os.path.abspath(__file__),
                          "--root", root], capture_output=True, text=True)
    print(run.stdout, end="")
    print(run.stderr, end="", file=sys.stderr)
    got, summary, rest = set(), None, []
    for out in run.stdout.splitlines():
        m, n = REPORT_RE.match(out), NO_LAYER_RE.match(out)
        if m:
            got.add((m[1], int(m[2]), m[4], m[5]))
        elif n:
            got.add((n[1], int(n[2]), None, None))
        elif out.startswith("layers: ") and summary is None:
            summary = out
        else:
            rest.append(out)
    return run.returncode, got, summary, rest + run.stderr.splitlines()


def self_test():
    failures = []
    with tempfile.TemporaryDirectory(prefix="ltcc-layers-") as root:
        print(f"self-test tree with violations ({root}):")
        expect = write_tree(root, with_violations=True)
        status, got, summary, rest = run_checker(root)
        failures += [f"not reported: {e}"
                     for e in sorted(expect - got, key=str)]
        failures += [f"reported, but allowed: {g}"
                     for g in sorted(got - expect, key=str)]
        failures += [f"unexpected output: {r}" for r in rest]
        if status != 1:
            failures.append(f"exit status {status}, expected 1")
        if not summary or not summary.endswith(f", {len(expect)} violations"):
            failures.append(f"summary {summary!r}: expected {len(expect)} "
                            f"violations")
        for layer in LAYERS:
            if not any(layer_of(e[0]) == layer for e in expect):
                failures.append(f"no deliberate violation in {layer.folder}")

    with tempfile.TemporaryDirectory(prefix="ltcc-layers-") as root:
        print("the same tree without them:")
        write_tree(root, with_violations=False)
        status, got, summary, rest = run_checker(root)
        if status != 0 or got or rest or not summary or \
           not summary.endswith(", 0 violations"):
            failures.append(f"clean tree: exit status {status}, "
                            f"reported {sorted(got, key=str)}, {rest}")

    for f in failures:
        print("self-test: " + f)
    if failures:
        print("layers self-test: FAILED")
        return 1
    rules = sorted({e[3] for e in expect if e[3]})
    print(f"layers self-test: passed ({len(expect)} deliberate violations, "
          f"each reported, over {', '.join(rules)} and one file in no layer; "
          f"nothing else reported)")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root",
                    default=os.path.normpath(os.path.join(here, "..", "..")),
                    help="repository root (default: the one holding this "
                         "script)")
    ap.add_argument("--self-test", action="store_true",
                    help="check a built tree with one violation per rule")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    return main_check(args.root)


if __name__ == "__main__":
    sys.exit(main())
