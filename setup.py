# cffi's build hook needs setup(); everything else is in pyproject.toml.
# Two native parts: the core (cffi, csrc/*.c) and the parameter-list fields
# (a CPython extension, csrc/pyext/iparml.c: cffi cannot define a type).
from setuptools import Extension, setup

setup(cffi_modules=["csrc/build_core.py:ffibuilder"],
      ext_modules=[Extension("shmcp._iparml", ["csrc/pyext/iparml.c"],
                             extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror"])])
