/* vmcfcall.c: VMCF's DIAGNOSE X'68' and the showing of its interrupts. */
#ifndef SHMCP_PYEXT_VMCFCALL_H
#define SHMCP_PYEXT_VMCFCALL_H

#include "machine.h"

/* A VMCF interrupt the core presented (no trailing data left) for @vm,
 * shown as its Vmcmhdr in *@shown, the REPLY buffer let go and the
 * AUTHORIZE buffer filled: 1; 0: Python's to show (no state bound);
 * -1 with an exception. */
int vmcf_show(Machine *vm, const struct shmcp_record *rec, PyObject **shown);

/* bind_vmcf, vmcf_state, vmcf_field, diag68 and VmcfReplies, added to
 * the module @m. */
int vmcfcall_add(PyObject *m);

/* vmcfreply.c: the REPLY buffers in flight (a VmcfReplies), by (user,
 * mid).  reserve: room for one more entry (0, or -1 with an exception);
 * put: the entry, replacing one of the same key, taking @view's export
 * (never fails after a reserve); drop: 1 if there was one, its export let
 * go (an empty table: at once). */
extern PyTypeObject VmcfRepliesType;
int vmcf_replies_reserve(PyObject *r);
void vmcf_replies_put(PyObject *r, const uint8_t *user, uint32_t mid, uint32_t lenb,
		      Py_buffer *view);
int vmcf_replies_drop(PyObject *r, const uint8_t *user, uint32_t mid);

#endif
