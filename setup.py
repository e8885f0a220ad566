# cffi's build hook needs setup(); everything else is in pyproject.toml.
# Two native parts: the core and its facilities (cffi: csrc/core, csrc/iucv,
# csrc/vmcf) and the parameter lists' C base and IUCV's message calls (a
# CPython extension, csrc/pyext: cffi cannot define a type).
import re

from setuptools import Extension, setup

# the extension is version-stamped like the core; shmcp/_native.py checks both
VERSION = re.search(r'"(.+)"', open("shmcp/_version.py").read()).group(1)

setup(cffi_modules=["csrc/build_core.py:ffibuilder"],
      ext_modules=[Extension("shmcp._iparml", ["csrc/pyext/iparml.c", "csrc/pyext/iucvcall.c",
                                                       "csrc/pyext/machine.c", "csrc/pyext/message.c",
                                                       "csrc/pyext/inbox.c", "csrc/pyext/pumper.c",
                                                       "csrc/pyext/pathsend.c", "csrc/pyext/receive.c",
                                                       "csrc/pyext/vmcfcall.c", "csrc/pyext/vmcfreply.c",
                                                       "csrc/pyext/sigpause.c"],
                             depends=["csrc/pyext/image.h", "csrc/pyext/machine.h", "csrc/pyext/message.h",
                                      "csrc/pyext/pythonic.h",
                                      "csrc/pyext/vmcfcall.h", "csrc/include/shmcp.h",
                                      "csrc/include/shmcp_iucv.h", "csrc/include/shmcp_vmcf.h"],
                             define_macros=[("SHMCP_BUILD_VERSION", '"%s"' % VERSION)],
                             extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Werror"])])
