#!/usr/bin/env python3
"""Lists import cycles among the modules of src/ (one module per file).

A module depends on another when its code (tests excluded) names it through a
`crate::…`, `super::…` or `self::…` path or a `use` of one; a path is resolved to
the longest module that exists (`crate::ticket::lifecycle::close` is the module
`ticket::lifecycle`). Declaring a submodule (`mod x;`) is not a dependency.
Exits 1 and prints each cycle (a strongly connected component of two or more
modules) when there is one; prints the module and edge counts otherwise.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    # Tests are not part of the module graph: drop `#[cfg(test)] mod … { … }` to the end.
    m = re.search(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def expand(prefix, body):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (enough for module names)."""
    out, depth, item = [], 0, ""
    for ch in body + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            item = item.strip()
            if item:
                m = re.match(r"^([\w:]*?)::\{(.*)\}$", item, re.S)
                if m:
                    out += expand(prefix + [p for p in m.group(1).split("::") if p], m.group(2))
                else:
                    out.append(prefix + [p for p in item.split(" as ")[0].split("::") if p])
            item = ""
        else:
            item += ch
    return out


def paths(text):
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)*)::\{", text):
        start = m.end()
        depth, i = 1, start
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        head = [m.group(1)] + [p for p in m.group(2).split("::") if p]
        yield from expand(head, text[start : i - 1])
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", text):
        yield [m.group(1)] + [p for p in m.group(2).split("::") if p]


def main():
    files = []
    for d, _, names in os.walk(ROOT):
        files += [os.path.join(d, n) for n in names if n.endswith(".rs")]
    modules = {module_of(f): f for f in files}
    edges = {}
    for mod, f in modules.items():
        is_dir_mod = os.path.basename(f) in ("mod.rs", "lib.rs", "main.rs")
        here = mod if is_dir_mod else mod[:-1]  # the module `super`/`self` paths start from
        deps = set()
        for p in paths(strip(open(f, encoding="utf-8").read())):
            if p[0] == "crate":
                base, rest = (), p[1:]
            elif p[0] == "self":
                base, rest = mod, p[1:]
            else:
                base, rest = (mod[:-1] if is_dir_mod else here), p[1:]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            target = None
            for n in range(len(rest), -1, -1):
                cand = tuple(base) + tuple(rest[:n])
                if cand in modules:
                    target = cand
                    break
            if target is not None and target != mod and target != ():
                deps.add(target)
        edges[mod] = deps
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
                sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m) or "crate"
    if sccs:
        for comp in sccs:
            members = sorted(comp)
            print("cycle:", " ".join(name(m) for m in members))
            for a in members:
                for b in sorted(edges[a]):
                    if b in comp:
                        print(f"  {name(a)} -> {name(b)}")
        sys.exit(1)
    n_edges = sum(len(v) for v in edges.values())
    print(f"no import cycle among {len(modules)} modules ({n_edges} dependencies)")


main()
