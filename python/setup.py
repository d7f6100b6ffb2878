# SPDX-License-Identifier: Apache-2.0
"""Builds the ferry package: the Python code, plus ferry.h (from which the binding reads its
declarations) and, when one is built, libferry-c from this source tree's build directory
(or the file FERRY_LIBRARY names), so that `import ferry` works without installing the C
library system-wide. Without a bundled library, ferry loads the installed libferry-c."""
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.realpath(__file__))
HEADER = os.path.join(HERE, "..", "include", "ferry", "ferry.h")


def built_library():
    """The libferry-c to bundle: FERRY_LIBRARY, else ../build/lib/libferry-c.so.*"""
    given = os.environ.get("FERRY_LIBRARY")
    if given:
        if not os.path.isfile(given):
            raise SystemExit(f"FERRY_LIBRARY={given}: no such file")
        return given
    found = sorted(glob.glob(os.path.join(HERE, "..", "build", "lib", "libferry-c.so.*")))
    return os.path.realpath(found[0]) if found else None


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "ferry")
        shutil.copyfile(HEADER, os.path.join(target, "ferry.h"))
        library = built_library()
        if library:
            shutil.copyfile(library, os.path.join(target, "libferry-c.so"))
            print(f"ferry: bundling {library}")
        else:
            print("ferry: no built libferry-c found (make build, or FERRY_LIBRARY=...): "
                  "the package will load the installed one")


class BinaryDistribution(Distribution):
    """The package may carry a shared library: a platform wheel, not a pure one."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
