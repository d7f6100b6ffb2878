#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tests/docs/sh_blocks.py FILE.md...: runs the ```sh blocks of each Markdown FILE as a reader
pasting them would, one after another in one shell session per file, and checks what they
promise. Run by tests/install/check.sh (make test) from the repository's root.

- Each block runs with `bash -e -o pipefail`, in a runtime directory of its own for the file
  (XDG_RUNTIME_DIR; FERRY_SESSION unset), build/bin first on PATH. README.md's blocks run
  from the repository's root (they build it); the others from a scratch directory of the
  file's own, where `build` leads to the repository's build, so that the files a block
  writes (out.txt, ...) land there. A block that fails fails the check, with its output.
- A comment `# -> "TEXT"` (or `# words -> "TEXT"`) on a line promises TEXT in the file's output: checked once the
  file's last block ended (waiting up to 10 s for what programs left in the background
  print).
- A block after a line `<!-- not run by make test: REASON -->` is not run; it is listed with
  its reason.
- A block of any language after a line `<!-- file: NAME -->` is a file the reader saves: it
  is written to NAME in the block's directory, in order with the shell blocks, which then
  compile or run it. Besides `build`, the scratch directory has `include` and `python`,
  leading to the repository's.
- What the blocks left running (--background, &) is stopped at the end of the file."""
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

NOT_RUN = re.compile(r"<!--\s*not run by make test:\s*(.*?)\s*-->")
FILE = re.compile(r"<!--\s*file:\s*([\w.-]+)\s*-->")
PROMISE = re.compile(r'#[^"\n]*?->\s*"([^"]*)"')


def blocks(path):
    """(line, text, reason not to run or None, file name or None) of each ```sh block and
    of each block that is a file to save."""
    out, body, start, last = [], None, 0, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if body is None and line.strip().startswith("```"):
            m, f = NOT_RUN.search(last), FILE.search(last)
            if line.strip() == "```sh" or f:
                body, start = [], n + 1
                reason, name = (m.group(1) if m else None), (f.group(1) if f else None)
        elif body is not None and line.strip() == "```":
            out.append((start, "\n".join(body), reason, name))
            body = None
        elif body is not None:
            body.append(line)
        if line.strip():
            last = line
    return out


def stop(groups):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in groups:
            try:
                os.killpg(g, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.3)


def run_file(path, root):
    failed = 0
    ran, skipped = 0, []
    promises = []
    groups = []
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = pathlib.Path(scratch) / "run"
        run_dir.mkdir(mode=0o700)
        # A reader's fresh shell: not make test's session or make's job server.
        env = {k: v for k, v in os.environ.items()
               if k not in ("FERRY_SESSION", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        env["XDG_RUNTIME_DIR"] = str(run_dir)
        env["PATH"] = f"{root / 'build' / 'bin'}:{env.get('PATH', '')}"
        out_path = pathlib.Path(scratch) / "out"
        cwd = root
        if path.name != "README.md":
            cwd = pathlib.Path(scratch) / "work"
            cwd.mkdir()
            for part in ("build", "include", "python"):
                (cwd / part).symlink_to(root / part)
        with open(out_path, "wb") as out:
            for line, text, reason, name in blocks(path):
                if reason is not None:
                    skipped.append(f"{path}:{line} ({reason})")
                    continue
                if name is not None:
                    (cwd / name).write_text(text + "\n")
                    continue
                promises += [(line, p) for p in PROMISE.findall(text)]
                err_path = pathlib.Path(scratch) / f"err{line}"
                with open(err_path, "wb") as err:
                    p = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", text], cwd=cwd, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         start_new_session=True)
                    groups.append(p.pid)
                    try:
                        rc = p.wait(timeout=300)
                    except subprocess.TimeoutExpired:
                        rc = "timed out after 300 s"
                ran += 1
                if rc != 0:
                    failed += 1
                    print(f"docs: the shell block at {path}:{line} failed ({rc}):\n{text}\n--- its stderr:\n"
                          f"{err_path.read_text(errors='replace')}", file=sys.stderr)
                    break
            out.flush()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(
                    p in out_path.read_text(errors="replace") for _, p in promises):
                time.sleep(0.1)
        stop(groups)
        printed = out_path.read_text(errors="replace")
        for line, p in promises:
            if p not in printed:
                failed += 1
                print(f'docs: {path}:{line} promises "{p}", which never came; the output was:\n{printed}',
                      file=sys.stderr)
    if ran == 0 and not skipped:
        return failed  # no shell blocks
    print(f"docs: {path}: {ran} shell blocks run, {len(promises)} promised outputs checked"
          + (f", {failed} failed" if failed else "")
          + "".join(f"\n  not run: {s}" for s in skipped))
    return failed


def main():
    root = pathlib.Path.cwd()
    failed = sum(run_file(pathlib.Path(f), root) for f in sys.argv[1:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
