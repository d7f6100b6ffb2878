# SPDX-License-Identifier: Apache-2.0
"""The C interface, loaded with cffi in ABI mode: the declarations are read from ferry.h
itself (the copy installed with the package, or the source tree's), so the binding and the
library can never disagree about a signature; the library is FERRY_LIBRARY, else the copy
installed with the package, else the system's libferry-c."""
import os
import re

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))


def _header_text():
    for path in (os.path.join(_HERE, "ferry.h"),
                 os.path.join(_HERE, "..", "..", "include", "ferry", "ferry.h")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    raise ImportError("ferry: ferry.h is missing from the package; reinstall it from ferry's "
                      "source tree (pip install ./python)")


def _declarations(text):
    """ferry.h's declarations as cffi's cdef takes them, and its integer #defines."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#ifdef __cplusplus.*?#endif", "", text, flags=re.S)
    constants = {}
    for name, value in re.findall(r"^#define\s+(FERRY_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\s*$",
                                  text, flags=re.M):
        constants[name] = int(value, 0)
    constants["FERRY_FOREVER"] = 2**63 - 1  # INT64_MAX
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines).replace("FERRY_C_API ", ""), constants


def _load(ffi):
    soname = "libferry-c.so"
    candidates = []
    if os.environ.get("FERRY_LIBRARY"):
        candidates.append(os.environ["FERRY_LIBRARY"])
    bundled = os.path.join(_HERE, soname)
    if os.path.isfile(bundled):
        candidates.append(bundled)
    candidates.append(soname)
    errors = []
    for path in candidates:
        try:
            return ffi.dlopen(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("ferry: cannot load libferry-c (" + "; ".join(errors) + "). Build ferry "
                      "(make build) and reinstall this package from the source tree, install "
                      "ferry (cmake --install build; ldconfig), or set FERRY_LIBRARY to the "
                      "library's path")


ffi = FFI()
_cdef, constants = _declarations(_header_text())
ffi.cdef(_cdef)
lib = _load(ffi)
