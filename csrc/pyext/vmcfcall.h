/* vmcfcall.c: VMCF's DIAGNOSE X'68' and the showing of its interrupts. */
#ifndef SHMCP_PYEXT_VMCFCALL_H
#define SHMCP_PYEXT_VMCFCALL_H

#include "machine.h"

/* A VMCF interrupt the core presented (no trailing data left) for @vm,
 * shown as its Vmcmhdr in *@shown, the REPLY buffer let go and the
 * AUTHORIZE buffer filled: 1; 0: Python's to show (no state bound);
 * -1 with an exception. */
int vmcf_show(Machine *vm, const struct shmcp_record *rec, PyObject **shown);

/* bind_vmcf, vmcf_state and diag68, added to the module @m. */
int vmcfcall_add(PyObject *m);

#endif
