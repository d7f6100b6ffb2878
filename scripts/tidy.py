#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""scripts/tidy.py BUILD_DIR JOBS FILE...: clang-tidy on FILEs (make tidy), JOBS at a time,
with their flags from BUILD_DIR/compile_commands.json. Fails if any file has a finding.

A file that passed before is not checked again while nothing it is checked on changed,
the way ccache skips a compile: the key is the clang-tidy version, .clang-tidy, the file's
compile flags and its preprocessed text (the file and every header it includes), with the
source tree's path left out so that a clone elsewhere finds them. Passes are
kept in ${XDG_CACHE_HOME:-~/.cache}/ferry-tidy; delete it, or set FERRY_TIDY_CACHE=0, to
check everything again."""
import concurrent.futures
import hashlib
import json
import os
import pathlib
import shlex
import subprocess
import sys


def preprocess_command(entry):
    """The file's compile command, made to print its preprocessed text instead."""
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a in ("-c",) or a.startswith("-MF") or a in ("-MD", "-MMD"):
            continue
        out.append(a)
    return out + ["-E", "-P", "-o", "-"]


def main():
    build, jobs, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    commands = {}
    for e in json.load(open(os.path.join(build, "compile_commands.json"))):
        commands[os.path.realpath(os.path.join(e["directory"], e["file"]))] = e
    use_cache = os.environ.get("FERRY_TIDY_CACHE", "1") != "0"
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache")) / "ferry-tidy"
    cache.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True, text=True).stdout
    config = pathlib.Path(".clang-tidy").read_bytes()

    def key_of(path):
        entry = commands.get(os.path.realpath(path))
        if entry is None:
            return None  # not built in this configuration: always checked
        cmd = preprocess_command(entry)
        pre = subprocess.run(cmd, cwd=entry["directory"], capture_output=True)
        if pre.returncode != 0:
            return None
        # The same tree cloned elsewhere is the same check: its paths are left out.
        root = os.getcwd().encode()
        text = pre.stdout.replace(root, b"@SRC@")
        flags = " ".join(cmd).encode().replace(root, b"@SRC@")
        h = hashlib.sha256()
        for part in (version.encode(), config, flags, text):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest()

    def check(path):
        key = key_of(path) if use_cache else None
        if key is not None and (cache / key).exists():
            return path, 0, "", True
        r = subprocess.run(["clang-tidy", "-p", build, "--quiet", path], capture_output=True, text=True)
        text = "\n".join(l for l in (r.stdout + r.stderr).splitlines() if "warnings generated" not in l)
        if r.returncode == 0 and key is not None:
            (cache / key).touch()
        return path, r.returncode, text, False

    failed, skipped = 0, 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, rc, text, cached in pool.map(check, files):
            skipped += cached
            if text.strip():
                print(text)
            if rc != 0:
                failed += 1
                print(f"tidy: {path}: findings above", file=sys.stderr)
    print(f"tidy: {len(files)} files, {len(files) - skipped} checked, {skipped} unchanged since they passed,"
          f" {failed} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
