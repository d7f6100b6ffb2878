#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tests/docs/cpp_blocks.py PREFIX FILE.md...: compiles every ```cpp block of the Markdown
FILEs against the ferry installed in PREFIX (its pkg-config file), so that the docs' C++
cannot drift from the API. Run by tests/install/check.sh (make test).

A block is compiled, not linked or run: its #include lines go first, after
tests/docs/prelude.hpp (the objects a block takes as given: `producer`, `bytes`, ...), and
the rest becomes the body of a function returning ferry::Result<void>. A block that is a
whole program (it has `int main`) is compiled as it stands. Warnings are errors, so a
dropped Result ([[nodiscard]]) fails too. "trade_generated.h" is made from
tests/docs/trade.fbs with flatc."""
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent


def blocks(path):
    """(first line number, text) of each ```cpp block."""
    out, body, start = [], None, 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if body is None and line.strip() == "```cpp":
            body, start = [], n + 1
        elif body is not None and line.strip() == "```":
            out.append((start, "\n".join(body)))
            body = None
        elif body is not None:
            body.append(line)
    return out


def unit(text):
    if re.search(r"\bint\s+main\s*\(", text):
        return text + "\n"
    includes = [l for l in text.splitlines() if l.lstrip().startswith("#include")]
    rest = [l for l in text.splitlines() if not l.lstrip().startswith("#include")]
    return "\n".join(['#include "prelude.hpp"', *includes, "",
                      "[[maybe_unused]] static ferry::Result<void> doc_block() {", *rest,
                      "  return {};", "}", ""])


def main():
    prefix, files = sys.argv[1], [pathlib.Path(f) for f in sys.argv[2:]]
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = ":".join(str(p) for p in pathlib.Path(prefix).glob("lib*/**/pkgconfig"))
    cflags = subprocess.run(["pkg-config", "--cflags", "ferry"], env=env, check=True,
                            capture_output=True, text=True).stdout.split()
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["flatc", "--cpp", "-o", scratch, str(HERE / "trade.fbs")], check=True)
        jobs = []
        for f in files:
            for line, text in blocks(f):
                src = pathlib.Path(scratch) / f"{f.stem}_{line}.cpp"
                src.write_text(unit(text))
                jobs.append((f"{f}:{line}", src))

        def compile_one(job):
            where, src = job
            r = subprocess.run(["g++", "-std=c++20", "-fsyntax-only", "-Wall", "-Werror",
                                "-Wno-unused-variable", "-Wno-unused-but-set-variable",
                                "-I", str(HERE), "-I", scratch, *cflags, str(src)],
                               capture_output=True, text=True)
            return where, src, r

        failed = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for where, src, r in pool.map(compile_one, jobs):
                if r.returncode != 0:
                    failed += 1
                    print(f"docs: the C++ block at {where} does not compile:", file=sys.stderr)
                    print(r.stderr.replace(str(src), where), file=sys.stderr)
        print(f"docs: {len(jobs)} C++ blocks in {len(files)} files compiled"
              + (f", {failed} failed" if failed else ""))
        return 1 if failed or not jobs else 0


if __name__ == "__main__":
    sys.exit(main())
