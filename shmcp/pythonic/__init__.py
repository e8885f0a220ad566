"""The Pythonic layer: paths and messages as objects, errors as exceptions.

``vm.connect`` / ``vm.accept`` / ``vm.accept_all`` give Paths; ``send``
returns the reply, ``receive`` a Message.  No parameter list, interrupt
type or condition code shows (docs/pythonic.md).

Modules: ``vm`` (the VirtualMachine methods, a mixin), ``router`` (one
per VM: takes its interrupts, completes what waits), ``path`` (Path,
Pending), ``message`` (Message), ``events`` (Event), ``timeouts``.  Only
``vm`` (and ``timeouts``) is
imported here: importing it gives VirtualMachine the layer's methods
(machine.py, a layer below, names no layer above it).
"""
from .vm import PythonicVM

__all__ = ["PythonicVM"]
