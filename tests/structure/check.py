#!/usr/bin/python3
"""tests/structure/check.py: the agent's architecture, checked on the built objects.

    check.py BUILD_ROOT SOURCE_ROOT

Reads every object file of the agent (the core library and the preload
entry) with nm, and draws an arrow from a source file to another wherever the
first uses a function or a variable the second defines, leaving out names
libc also exports (the agent replaces those: a call to free is libc's). Then:

- no cycle: no file uses, directly or through others, a file that uses it;
- layers: every arrow goes to the same layer or one below, as
  docs/ARCHITECTURE.md draws them (LAYERS below is that drawing);
- each mode's name (PYMEMTRACE's word) and log letter, read from the table of
  modes (agent/modes.c), are spelled in at most two source files: the settings
  parser and the table row.

Prints the arrows per layer, one line per finding, and "N passed, M failed"
over the three checks; exits 1 on any finding.
Standard library only.
"""

import glob
import os
import re
import subprocess
import sys

# Bottom first. A file not listed here is a finding of its own.
LAYERS = [
    ("platform", ["agent/rawio.c", "agent/forward.c", "agent/realsym.c", "agent/rss.c",
                  "agent/rawthread.c", "agent/threadstart.c", "agent/native.c", "logd/logopen.c",
                  "build/logd_image.c"]),
    ("logs and settings", ["agent/logfmt.c", "agent/writer.c", "agent/logclient.c", "agent/sink.c",
                           "agent/tracelog.c",
                           "config/config.c", "config/typefilter.c", "config/funcspec.c"]),
    ("Python access", ["agent/state.c", "shim/shim.c", "shim/debugoffsets.c", "shim/audit.c",
                       "shim/pyversion.c", "agent/pycall.c", "agent/sites.c", "agent/logset.c"]),
    ("modes", ["agent/hooks.c", "agent/selfcheck.c", "agent/reftrace.c", "agent/sampler.c",
               "agent/modes.c", "agent/threads.c", "agent/chain.c", "agent/monitor.c",
               "agent/function.c"]),
    ("lifecycle", ["agent/lifecycle.c"]),
    ("preload entry", ["agent/entry.c", "agent/dlsym_trampoline.S"]),
]


def nm(paths):
    out = subprocess.run(["nm", "-A", "-P"] + paths, check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        m = re.match(r"^(.*?)(?:\[(.*?)\])?: (\S+) (\S)", line)
        if m:
            yield m.group(2) or m.group(1), m.group(3), m.group(4)


def source_of(obj):
    """libpmtcore.a.p/agent_hooks.c.o -> agent/hooks.c"""
    base = os.path.basename(obj)[:-2]
    if base.startswith("meson-generated_"):
        return "build/" + base.split("_", 1)[1].lstrip("._")  # the log writer's image (logd/embed.py)
    folder, _, name = base.partition("_")
    return folder + "/" + name


def libc_names():
    libc = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if re.search(r"/libc\.so\.6$|/libc-[\d.]+\.so$", path):
                libc = path
                break
    if not libc:
        sys.exit("check.py: cannot find this process's libc")
    out = subprocess.run(["nm", "-D", "--defined-only", "-P", libc], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[0].split("@")[0] for line in out.splitlines() if line.strip()}


def cycles(nodes, edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def main():
    build, source = sys.argv[1], sys.argv[2]
    objects = [os.path.join(build, "libpmtcore.a")]
    objects += sorted(glob.glob(os.path.join(build, "libpymemtrace.so.p", "*.o")))
    if not os.path.exists(objects[0]) or len(objects) < 2:
        sys.exit("check.py: build the agent first (%s)" % build)
    defined, used = {}, {}
    for obj, name, kind in nm(objects):
        src = source_of(obj)
        if kind == "U":
            used.setdefault(src, set()).add(name)
        elif kind.isupper():
            defined[name] = src
    libc = libc_names()
    edges, why = {}, {}
    for src, names in used.items():
        for name in names:
            dst = defined.get(name)
            if dst and dst != src and name not in libc:
                edges.setdefault(src, set()).add(dst)
                why.setdefault((src, dst), []).append(name)
    nodes = set(used) | set(defined.values())
    findings = []

    layer_of = {}
    for i, (_, files) in enumerate(LAYERS):
        for f in files:
            layer_of[f] = i
    for f in sorted(nodes - set(layer_of)):
        findings.append("%s is in no layer: add it to LAYERS and docs/ARCHITECTURE.md" % f)
    for i, (title, files) in enumerate(LAYERS):
        print("layer %d, %s:" % (i, title))
        for f in files:
            targets = sorted(edges.get(f, ()), key=lambda d: (layer_of.get(d, 99), d))
            print("  %-28s -> %s" % (f, ", ".join(targets) or "-"))
            for d in targets:
                if layer_of.get(d, -1) > i:
                    findings.append("%s (%s) uses %s, a layer above: %s" % (
                        f, title, d, ", ".join(sorted(why[(f, d)]))))
    for comp in cycles(nodes, edges):
        findings.append("call cycle among %s" % ", ".join(comp))

    table = open(os.path.join(source, "agent", "modes.c")).read()
    rows = re.findall(r'\.kind = \{"(\w+)", \'(\w)\'', table)
    if len(rows) < 4:
        findings.append("agent/modes.c: cannot read the table's rows")
    sources = sorted(glob.glob(os.path.join(source, "agent", "*.[ch]")) +
                     glob.glob(os.path.join(source, "config", "*.[ch]")) +
                     glob.glob(os.path.join(source, "shim", "*.[ch]")))
    texts = {os.path.relpath(p, source): open(p).read() for p in sources}
    for name, letter in rows:
        for spelled in ('"%s"' % name, "'%s'" % letter):
            files = sorted(f for f, t in texts.items() if spelled in t)
            line = "mode %s: %s in %s" % (name, spelled, ", ".join(files))
            print(line)
            if len(files) > 2:
                findings.append(line + " (more than its parser and its row)")

    for f in findings:
        print("FINDING: " + f)
    print("structure: %d files, %d arrows, %d findings" % (
        len(nodes), sum(len(v) for v in edges.values()), len(findings)))
    # The three checks, counted in scripts/test.sh's summary.
    kinds = [lambda f: "layer" in f or "no layer" in f, lambda f: f.startswith("call cycle"),
             lambda f: f.startswith("mode ") or "modes.c" in f]
    failed = sum(1 for k in kinds if any(k(f) for f in findings))
    print("%d passed, %d failed" % (len(kinds) - failed, failed))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
