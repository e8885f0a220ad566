/*
 * shmcp._iparml.Machine: the C base of shmcp.machine.VirtualMachine.
 *
 * The message calls run once per message, and a Python attribute lookup
 * (~20 ns), a Python frame (~0.1 us) or an int converted from Python are a
 * good part of what they cost.  So what they read lives here, and only
 * here (Python reads these fields, it keeps no copy): the VM's core ids
 * (slot, gen, logged_on), the interrupt types the core presents, the
 * interrupts already taken off the ring, and what IUCV keeps per message in
 * the process (its answer areas, its declared buffer).  The process's
 * current VM and the facilities without a signal handler are C statics,
 * owned here too.  Every core wait (shmcp_next) goes through core_wait
 * (iucvcall.c): wait()'s common case -- nothing taken earlier,
 * an IUCV message interrupt the core presents -- runs here; everything
 * else goes to VirtualMachine._wait, which is the whole of wait() in Python
 * and reaches the core through take()/take_shown().
 */
#include "machine.h"
#include <structmember.h>

Machine *current_vm;
uint32_t unhandled_facilities = (1u << SHMCP_NFAC) - 1;  /* every facility: no handler yet */
static PyObject *s_wait;  /* "_wait" */

static int Machine_traverse(Machine *self, visitproc visit, void *arg)
{
	Py_VISIT(self->released);
	Py_VISIT(self->answers);
	Py_VISIT(self->buffer);
	Py_VISIT(self->sending);
	Py_VISIT(self->answered);
	return 0;
}

static int Machine_clear(Machine *self)
{
	Py_CLEAR(self->released);
	Py_CLEAR(self->answers);
	Py_CLEAR(self->buffer);
	Py_CLEAR(self->sending);
	Py_CLEAR(self->answered);
	return 0;
}

static void Machine_dealloc(Machine *self)
{
	PyObject_GC_UnTrack(self);
	Machine_clear(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* _logged_on(handle, slot, gen, spin_ns): the core's ids (the handle's
 * address), valid until _logged_off(). */
static PyObject *Machine_logged_on(Machine *self, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 4) {
		PyErr_Format(PyExc_TypeError, "_logged_on(handle, slot, gen, spin_ns) "
			     "takes 4 arguments, not %zd", nargs);
		return NULL;
	}
	int64_t v[4];
	for (int i = 0; i < 4; i++)
		v[i] = PyLong_AsLongLong(args[i]);
	if (PyErr_Occurred())
		return NULL;
	if (!v[0] || v[1] < 0) {
		PyErr_SetString(PyExc_ValueError, "_logged_on: no handle or a negative slot");
		return NULL;
	}
	self->h = (shmcp_sys *)(uintptr_t)v[0];
	self->slot = (int32_t)v[1];
	self->gen = (uint32_t)v[2];
	self->spin_ns = v[3];
	self->logged_on = 1;
	Py_RETURN_NONE;
}

static PyObject *Machine_logged_off(Machine *self, PyObject *unused)
{
	(void)unused;
	self->logged_on = 0;
	Py_RETURN_NONE;
}

/* _leave(): before the segment is unmapped (core_leave): True if this
 * call logged the VM off here, False if it was not logged on. */
static PyObject *Machine_leave(Machine *self, PyObject *unused)
{
	(void)unused;
	return PyBool_FromLong(core_leave(self));
}

static int wait_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, int64_t v[3]);

/* _sleep_core(fmask, timeout_ns): one core wait that takes nothing. */
static PyObject *Machine_sleep_core(Machine *self, PyObject *const *args, Py_ssize_t nargs)
{
	int64_t v[3];
	if (wait_args("_sleep_core", args, nargs, v) < 0)
		return NULL;
	return core_sleep(self, (uint32_t)v[0], v[1]);
}

static PyObject *Machine_get_logged_on(Machine *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->logged_on);
}

/* The (fmask, timeout_ns[, present]) of take and take_shown. */
static int wait_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, int64_t v[3])
{
	if (nargs < 2 || nargs > 3) {
		PyErr_Format(PyExc_TypeError, "%s(fmask, timeout_ns[, present]) takes 2 or 3 "
			     "arguments, not %zd", fn, nargs);
		return -1;
	}
	v[2] = -1;
	for (Py_ssize_t i = 0; i < nargs; i++)
		v[i] = PyLong_AsLongLong(args[i]);
	return PyErr_Occurred() ? -1 : 0;
}

/* take(fmask, timeout_ns, present=-1): one core wait: the record it took
 * (bytes), or the outcome (SHMCP_WAIT_*, or a core error) as an int. */
static PyObject *Machine_take(Machine *self, PyObject *const *args, Py_ssize_t nargs)
{
	int64_t v[3];
	if (wait_args("take", args, nargs, v) < 0)
		return NULL;
	return core_wait(self, (uint32_t)v[0], v[2], v[1], 0);
}

/* take_shown(fmask, timeout_ns): the same, an IUCV message interrupt the
 * core presented shown as its parameter list. */
static PyObject *Machine_take_shown(Machine *self, PyObject *const *args, Py_ssize_t nargs)
{
	int64_t v[3];
	if (wait_args("take_shown", args, nargs, v) < 0)
		return NULL;
	return core_wait(self, (uint32_t)v[0], v[2], v[1], 1);
}

int one_arg(const char *fn, const char *kw, PyObject *const *args, Py_ssize_t nargs,
	    PyObject *kwnames, PyObject **arg)
{
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	if (nargs + nkw > 1) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", fn, nargs + nkw);
		return -1;
	}
	if (nkw && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), kw)) {
		PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fn,
			     PyTuple_GET_ITEM(kwnames, 0));
		return -1;
	}
	if (!(nargs + nkw))
		return 0;
	*arg = args[0];
	return 1;
}

/* wait(timeout)'s common case with a timeout of a float or int seconds
 * (a bounded wait: the Pythonic layer's pumps and every call with a
 * timeout): one core wait from here; what it cannot finish (a record to
 * present in Python, a signal's slice, an error) goes to _wait with what
 * is left of the timeout.  Any other timeout is _wait's to judge. */
static PyObject *wait_bounded(Machine *self, PyObject *timeout)
{
	double secs = -1.0;
	if (PyFloat_CheckExact(timeout))
		secs = PyFloat_AS_DOUBLE(timeout);
	else if (PyLong_CheckExact(timeout) && (secs = PyLong_AsDouble(timeout)) == -1.0 && PyErr_Occurred())
		PyErr_Clear();
	if (!(secs >= 0.0 && secs < 1e9))  /* negative, NaN, huge, a bool, not a number */
		return PyObject_CallMethodObjArgs((PyObject *)self, s_wait, timeout, NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	PyObject *got = core_wait(self, unhandled_facilities, -1, (int64_t)(secs * 1e9), 1);
	if (!got || !(PyLong_CheckExact(got) || PyBytes_CheckExact(got)))
		return got;  /* shown, or an error */
	if (PyLong_CheckExact(got) && PyLong_AsLong(got) == SHMCP_WAIT_TIMEOUT) {
		Py_DECREF(got);
		Py_RETURN_NONE;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double left = secs - (double)(t1.tv_sec - t0.tv_sec) - (t1.tv_nsec - t0.tv_nsec) * 1e-9;
	PyObject *rest = PyFloat_FromDouble(left > 0.0 ? left : 0.0);
	PyObject *shown = rest ? PyObject_CallMethodObjArgs((PyObject *)self, s_wait, rest, got, NULL) : NULL;
	Py_XDECREF(rest);
	Py_DECREF(got);
	return shown;
}

static PyObject *Machine_wait(Machine *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *timeout = Py_None;
	if (one_arg("wait", "timeout", args, nargs, kwnames, &timeout) < 0)
		return NULL;
	Py_ssize_t released = self->released ? PyObject_Length(self->released) : 0;
	if (released < 0)
		PyErr_Clear();  /* not a deque: the Python path's to say */
	if (released || !unhandled_facilities || !self->logged_on)
		return PyObject_CallMethodObjArgs((PyObject *)self, s_wait, timeout, NULL);
	if (timeout != Py_None)
		return wait_bounded(self, timeout);
	PyObject *got = core_wait(self, unhandled_facilities, -1, -1, 1);
	if (!got || !(PyLong_CheckExact(got) || PyBytes_CheckExact(got)))
		return got;  /* shown, or an error */
	PyObject *shown = PyObject_CallMethodObjArgs((PyObject *)self, s_wait, timeout, got, NULL);
	Py_DECREF(got);
	return shown;
}

/* send_begun(area): a SEND whose answer area is recorded after its core
 * call (the message id is the call's) is about to make it: @area is kept
 * from now on, and a completion taken before the record leaves a note. */
static PyObject *Machinesend_begun(Machine *self, PyObject *area)
{
	if (!self->sending && !(self->sending = PyList_New(0)))
		return NULL;
	if (PyList_Append(self->sending, area) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* send_ended(area, msgid): that SEND returned.  @area is @msgid's answer
 * area from now on, unless its completion was taken meanwhile; @msgid
 * None: nothing was queued, @area is let go. */
static PyObject *Machinesend_ended(Machine *self, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 2) {
		PyErr_Format(PyExc_TypeError, "send_ended(area, msgid) takes 2 arguments, not %zd",
			     nargs);
		return NULL;
	}
	PyObject *area = args[0], *msgid = args[1];
	Py_ssize_t i = self->sending ? PyList_GET_SIZE(self->sending) : 0;
	while (i-- > 0 && PyList_GET_ITEM(self->sending, i) != area)
		;
	if (i < 0) {
		PyErr_SetString(PyExc_ValueError, "send_ended(): that answer area has no SEND in flight");
		return NULL;
	}
	if (msgid != Py_None) {
		int early = self->answered ? PySet_Discard(self->answered, msgid) : 0;
		if (early < 0)
			return NULL;
		/* recorded before it leaves the list: it is kept throughout */
		if (!early && self->answers && PyDict_CheckExact(self->answers) &&
		    PyDict_SetItem(self->answers, msgid, area) < 0)
			return NULL;
	}
	if (PyList_SetSlice(self->sending, i, i + 1, NULL) < 0)
		return NULL;
	if (!PyList_GET_SIZE(self->sending))
		Py_CLEAR(self->answered);
	Py_RETURN_NONE;
}

/* answer_done(msgid): iucvcall.c's answer_done, for Python's callers. */
static PyObject *Machine_answer_done(Machine *self, PyObject *msgid)
{
	unsigned long id = PyLong_AsUnsignedLong(msgid);
	if (id == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	if (id > 0xFFFFFFFFul) {
		PyErr_Format(PyExc_ValueError, "answer_done(): message id %lu is over 32 bits", id);
		return NULL;
	}
	if (answer_done(self, (uint32_t)id) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyMethodDef Machine_methods[] = {
	{"_logged_on", (PyCFunction)(void (*)(void))Machine_logged_on, METH_FASTCALL,
	 "_logged_on(handle, slot, gen, spin_ns): the core's ids of this VM."},
	{"_logged_off", (PyCFunction)Machine_logged_off, METH_NOARGS,
	 "The core's ids are no longer valid."},
	{"_leave", (PyCFunction)Machine_leave, METH_NOARGS,
	 "_leave(): logged off here, the waits of this VM inside the core ended; True if it "
	 "was logged on.  The segment may be unmapped after it."},
	{"_sleep_core", (PyCFunction)(void (*)(void))Machine_sleep_core, METH_FASTCALL,
	 "_sleep_core(fmask, timeout_ns): one core wait (shmcp_wait) that takes nothing: its "
	 "outcome, SHMCP_WAIT_* or a core error."},
	{"take", (PyCFunction)(void (*)(void))Machine_take, METH_FASTCALL,
	 "take(fmask, timeout_ns, present=-1): one core wait (shmcp_next): the record it took "
	 "(a struct shmcp_record's bytes), or its outcome, SHMCP_WAIT_* or a core error "
	 "(present < 0: present_types).  Threads may take at once: each gets its own record."},
	{"take_shown", (PyCFunction)(void (*)(void))Machine_take_shown, METH_FASTCALL,
	 "take_shown(fmask, timeout_ns): take(), an IUCV message interrupt the core presented "
	 "returned as its parameter list."},
	{"send_begun", (PyCFunction)Machinesend_begun, METH_O,
	 "send_begun(area): a SEND that records its answer area after its core call is "
	 "about to make it; the area is kept from now on."},
	{"send_ended", (PyCFunction)(void (*)(void))Machinesend_ended, METH_FASTCALL,
	 "send_ended(area, msgid): that SEND returned; the area is msgid's answer area "
	 "unless its completion was taken meanwhile (msgid None: nothing was queued)."},
	{"answer_done", (PyCFunction)Machine_answer_done, METH_O,
	 "answer_done(msgid): IUCV message msgid's answer area is no longer the core's to "
	 "write (completion taken, purged, withdrawn): its record goes."},
	{"wait", (PyCFunction)(void (*)(void))Machine_wait, METH_FASTCALL | METH_KEYWORDS,
	 "wait($self, /, timeout=None)\n--\n\n"
	 "The next external interrupt (as its facility shows it: a parameter\n"
	 "list class, or an Interrupt), or None after ``timeout`` seconds.\n\n"
	 "For handler-free programs: interrupts of a facility whose signal has a\n"
	 "handler go to that handler instead.  Interrupted system calls are\n"
	 "retried with the deadline recomputed; Ctrl-C raises KeyboardInterrupt.\n"
	 "Several threads may wait at once: each interrupt goes to one of them."},
	{NULL, NULL, 0, NULL},
};

static PyMemberDef Machine_members[] = {
	{"slot", T_INT, offsetof(Machine, slot), READONLY,
	 "the VM's slot in the VM table (valid while logged_on)"},
	{"gen", T_UINT, offsetof(Machine, gen), READONLY,
	 "the slot's generation at LOGON (valid while logged_on)"},
	{"present_types", T_UINT, offsetof(Machine, present_types), 0,
	 "IUCV interrupt types the core presents (bit n: type n)"},
	{"_released", T_OBJECT, offsetof(Machine, released), 0,
	 "interrupts taken off the ring but not presented yet (a deque)"},
	{"iucv_answers", T_OBJECT, offsetof(Machine, answers), 0,
	 "IUCV's answer areas of two-way messages in flight, by message id (a dict), or None"},
	{"iucv_buffer", T_OBJECT, offsetof(Machine, buffer), 0,
	 "IUCV's declared interrupt buffer, or None"},
	{NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Machine_getset[] = {
	{"logged_on", (getter)Machine_get_logged_on, NULL,
	 "Whether this VM is logged on (False after LOGOFF and in a fork's child).", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject MachineType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.Machine",
	.tp_doc = "The C base of VirtualMachine: its core ids, and wait()'s common case.",
	.tp_basicsize = sizeof(Machine),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_new = PyType_GenericNew,
	.tp_traverse = (traverseproc)Machine_traverse,
	.tp_clear = (inquiry)Machine_clear,
	.tp_dealloc = (destructor)Machine_dealloc,
	.tp_methods = Machine_methods,
	.tp_members = Machine_members,
	.tp_getset = Machine_getset,
};

/* set_current(vm): the VM this process is logged on as, or None. */
static PyObject *set_current(PyObject *mod, PyObject *vm)
{
	(void)mod;
	if (vm != Py_None && !PyObject_TypeCheck(vm, &MachineType)) {
		PyErr_Format(PyExc_TypeError, "set_current() takes a Machine or None, not %s",
			     Py_TYPE(vm)->tp_name);
		return NULL;
	}
	Machine *old = current_vm;
	current_vm = vm == Py_None ? NULL : (Machine *)Py_NewRef(vm);
	Py_XDECREF(old);
	Py_RETURN_NONE;
}

/* current(): that VM, or None. */
static PyObject *get_current(PyObject *mod, PyObject *unused)
{
	(void)mod, (void)unused;
	return Py_NewRef(current_vm ? (PyObject *)current_vm : Py_None);
}

/* set_unhandled(fmask): the facilities whose signal has no handler. */
static PyObject *set_unhandled(PyObject *mod, PyObject *fmask)
{
	(void)mod;
	unsigned long v = PyLong_AsUnsignedLong(fmask);
	if (v == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	unhandled_facilities = (uint32_t)v;
	Py_RETURN_NONE;
}

/* unhandled(): that mask. */
static PyObject *get_unhandled(PyObject *mod, PyObject *unused)
{
	(void)mod, (void)unused;
	return PyLong_FromUnsignedLong(unhandled_facilities);
}

static PyMethodDef machine_methods[] = {
	{"set_current", set_current, METH_O,
	 "set_current(vm): the VM this process is logged on as, or None."},
	{"current", get_current, METH_NOARGS, "current(): the VM set_current last named, or None."},
	{"set_unhandled", set_unhandled, METH_O,
	 "set_unhandled(fmask): the facilities whose signal has no handler (bit n: facility n)."},
	{"unhandled", get_unhandled, METH_NOARGS, "unhandled(): the mask set_unhandled last set."},
	{NULL, NULL, 0, NULL},
};

int machine_add(PyObject *m)
{
	if (!(s_wait = PyUnicode_InternFromString("_wait")) || PyType_Ready(&MachineType) < 0 ||
	    PyModule_AddObjectRef(m, "Machine", (PyObject *)&MachineType) < 0)
		return -1;
	return PyModule_AddFunctions(m, machine_methods);
}
