/* shmcp._iparml.Machine, VirtualMachine's C base: what the message calls
 * need of a VM, read without a Python attribute lookup. */
#ifndef SHMCP_PYEXT_MACHINE_H
#define SHMCP_PYEXT_MACHINE_H

#include "image.h"
#include "../include/shmcp_iucv.h"

typedef struct {
	PyObject_HEAD
	/* the core's ids of the VM, valid while logged_on (set by _logged_on,
	 * cleared at LOGOFF and in a fork's child) */
	shmcp_sys *h;
	int32_t slot;
	uint32_t gen;
	int64_t spin_ns;
	int logged_on;
	uint32_t present_types;    /* IUCV types the core presents (bit n: type n) */
	PyObject *released;        /* interrupts taken, not yet presented (a deque) */
	/* IUCV's state in the process (shmcp/iucv.py _State), once declared:
	 * the answer areas of two-way messages in flight by message id (a
	 * dict), the declared interrupt buffer (or None) */
	PyObject *answers;
	PyObject *buffer;
	/* the answer areas of SENDs between their core call and their record
	 * by message id (the Python path's: cffi lets the GIL go), kept from
	 * before the call (a list, or NULL); the message ids whose completion
	 * was taken meanwhile, before their record (a set, or NULL): that
	 * SEND records nothing for them */
	PyObject *sending;
	PyObject *answered;
	/* this process's threads in a core wait of this VM with the GIL let
	 * go: counted before the GIL goes, uncounted (atomically, without
	 * the GIL) as the core returns.  The segment is unmapped only once
	 * it is 0 (core_leave) */
	int inside;
} Machine;

extern PyTypeObject MachineType;

/* The VM this process is logged on as, or NULL: this is its one owner
 * (machine.py sets it through set_current and reads it through current). */
extern Machine *current_vm;

/* Facilities whose signal has no handler: the ones wait() takes (bit n:
 * facility n).  Its one owner; shmcp/signals.py sets it (set_unhandled). */
extern uint32_t unhandled_facilities;

/* iucvcall.c: the one route to the core's wait (shmcp_next) for @vm.
 * @present < 0: the types @vm->present_types says.  With @show, an IUCV
 * message interrupt the core presented comes back as its parameter list;
 * any other record as the bytes of its struct shmcp_record (each call has
 * its own: threads may wait at once); no record: the wait's outcome
 * (SHMCP_WAIT_*, a negative core error) as an int. */
PyObject *core_wait(Machine *vm, uint32_t fmask, int64_t present, int64_t timeout_ns, int show);

/* iucvcall.c: one core wait that takes nothing (shmcp_wait), the GIL let
 * go: its outcome (SHMCP_WAIT_*, a negative core error) as an int. */
PyObject *core_sleep(Machine *vm, uint32_t fmask, int64_t timeout_ns);

/* iucvcall.c: before the system's segment is unmapped: @vm counts as
 * logged off (no core wait starts), every wait of it inside the core ends
 * (SHMCP_WAIT_DOWN), and this returns once none is inside, the GIL held
 * throughout.  1 if @vm was logged on, 0 if it was not (nothing done). */
int core_leave(Machine *vm);

/* iucvcall.c: IUCV's work in the VM's process for a message interrupt the
 * core presented (its answer area dropped, the declared buffer filled). */
int note_presented(Machine *vm, const uint8_t *image);

/* iucvcall.c: @msgid's answer area is no longer the core's to write (its
 * completion presented, taken by TEST COMPLETION, purged or withdrawn):
 * its record goes, or, while a SEND is between its call and its record,
 * a note that SEND reads.  0, or -1 with an exception. */
int answer_done(Machine *vm, uint32_t msgid);

/* The one optional argument of @fn, by position or as @kw=: 1 and *@arg
 * set, 0 (not given), or -1 with TypeError. */
int one_arg(const char *fn, const char *kw, PyObject *const *args, Py_ssize_t nargs,
	    PyObject *kwnames, PyObject **arg);

/* The address of a core function, from the int cffi gives for it: the
 * address, or NULL with an exception naming @fn (the bind call). */
static inline void *core_address(const char *fn, PyObject *addr)
{
	void *p = PyLong_AsVoidPtr(addr);
	if (!p && !PyErr_Occurred())
		PyErr_Format(PyExc_ValueError, "%s(): a core address is 0", fn);
	return p;
}

/* A facility call's outcome: @rc (>= 0) as an int, or NULL with the core's
 * error that @failed(vm, func, rc) raises (@what names the call should it
 * ever return instead). */
static inline PyObject *core_outcome(PyObject *failed, PyObject *vm, int func, int rc,
				     const char *what)
{
	if (rc >= 0)
		return PyLong_FromLong(rc);
	PyObject *res = PyObject_CallFunction(failed, "Oii", vm, func, rc);
	if (res) {  /* it always raises; never hand back a negative code */
		Py_DECREF(res);
		PyErr_Format(PyExc_SystemError, "%s %d failed with %d", what, func, rc);
	}
	return NULL;
}

/* Machine and its module functions, added to the module @m. */
int machine_add(PyObject *m);

/* sigpause.c: sigpause and siginfo, and their binding to shmcp/signals.py. */
int sigpause_add(PyObject *m);

#endif
