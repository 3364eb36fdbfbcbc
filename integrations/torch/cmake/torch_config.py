"""Prints what CMake needs to build a torch extension, one KEY=VALUE a line.

Run by integrations/torch/CMakeLists.txt with the interpreter that will load
the module; exits non-zero (with the reason on stderr) when torch or its
distributed package is missing.
"""
import sys

try:
    import torch
    import torch.distributed as dist
    import torch.utils.cpp_extension as ext
except Exception as e:  # ImportError, or a broken install
    sys.stderr.write("cannot import torch: %s\n" % e)
    sys.exit(1)

if not dist.is_available():
    sys.stderr.write("torch %s was built without torch.distributed\n" % torch.__version__)
    sys.exit(1)


def out(key, value):
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    print("%s=%s" % (key, value))


out("VERSION", torch.__version__.split("+")[0])
out("INCLUDE_DIRS", ext.include_paths())
out("LIBRARY_DIRS", ext.library_paths())
out("CXX11_ABI", int(bool(torch._C._GLIBCXX_USE_CXX11_ABI)))
# pybind11 must agree with torch's on these for the two modules to share types.
flags = []
for name in ("COMPILER_TYPE", "STDLIB", "BUILD_ABI"):
    value = getattr(torch._C, "_PYBIND11_" + name, None)
    if value is not None:
        flags.append('PYBIND11_%s="%s"' % (name, value))
out("PYBIND11_DEFS", flags)


def loaded_libstdcxx():
    """The libstdc++ this interpreter loaded with torch (the one the module
    must share), from /proc/self/maps; empty where that cannot be read."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "/libstdc++.so" in path:
                    return path
    except OSError:
        pass
    return ""


out("LIBSTDCXX", loaded_libstdcxx())
