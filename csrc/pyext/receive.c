/*
 * VirtualMachine.receive's common case in C (shmcp/pythonic/vm.py): a
 * message already in the VM's inbox (a batch filed it) taken under the
 * router's lock, with no Python frame; with the inbox empty, the pumper's
 * wait (pumper.c), or router.wait_message once another thread pumps.
 * Anything else -- a timeout, no router yet -- is PythonicVM.receive's.
 */
#include "pythonic.h"

static PyObject *s_wait_message;
static PyObject *receive_slow;  /* PythonicVM.receive */

static PyObject *vm_receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
			    PyObject *kwnames)
{
	PyObject *timeout = NULL, *router = NULL, *inbox = NULL, *mutex = NULL, *msg = NULL;
	int given = one_arg("receive", "timeout", args, nargs, kwnames, &timeout);
	if (given < 0)
		return NULL;
	if (given && timeout != Py_None)
		goto slow;
	if (!(router = PyObject_GetAttr(self, s_router)))
		return NULL;
	if (router == Py_None || !(inbox = PyObject_GetAttr(router, s_vm_inbox)))
		goto done;
	Py_ssize_t queued = PyObject_Size(inbox);
	if (!queued) {  /* the wait PythonicVM.receive would make */
		msg = pumper_wait(router, FOR_MESSAGE, NULL, Py_None);
		if (msg == Py_None) {  /* another thread pumps: follow it */
			Py_DECREF(msg);
			msg = PyObject_CallMethodOneArg(router, s_wait_message, Py_None);
		}
		goto done;
	}
	if (queued < 0)
		goto done;
	/* (not a wait: fg_waits, which keeps the acceptor out of the way, is
	 * counted by the wait that filed these messages and the one that
	 * follows when the inbox is empty again) */
	if (!(mutex = PyObject_GetAttr(router, s_mutex)))
		goto done;
	if (lock_call(lock_acquire, mutex) < 0)
		goto done;
	msg = take_from(inbox, inbox);
	struct held h;
	hold(&h);
	unhold(&h, lock_call(lock_release, mutex) < 0, &msg);
done:
	Py_XDECREF(mutex);
	Py_XDECREF(inbox);
	Py_XDECREF(router);
	if (msg != Py_None && (msg || PyErr_Occurred()))
		return msg;
	Py_XDECREF(msg);  /* nothing there after all: wait */
slow:;
	PyObject *stack[2] = {self, timeout};
	return PyObject_Vectorcall(receive_slow, stack, given ? 2 : 1, NULL);
}

static PyMethodDef vm_receive_def = {
	"receive", (PyCFunction)(void (*)(void))vm_receive, METH_FASTCALL | METH_KEYWORDS,
	"receive($self, /, timeout=None)\n--\n\n"
	"The next message of any path (waiting up to ``timeout``: TimeoutError);\n"
	"never raises for one severed path."};

/* receive_method(slow): VirtualMachine.receive (a method of Machine's
 * subclasses) whose common case is here and the rest @slow's. */
static PyObject *receive_method(PyObject *mod, PyObject *slow)
{
	(void)mod;
	if (!PyCallable_Check(slow)) {
		PyErr_SetString(PyExc_TypeError, "receive_method(slow): a callable");
		return NULL;
	}
	Py_XSETREF(receive_slow, Py_NewRef(slow));
	return PyDescr_NewMethod(&MachineType, &vm_receive_def);
}

static PyMethodDef receive_methods[] = {
	{"receive_method", (PyCFunction)receive_method, METH_O,
	 "receive_method(slow): VirtualMachine.receive with its common case in C, the rest slow's."},
	{NULL, NULL, 0, NULL},
};

int receive_add(PyObject *m)
{
	static const struct interned names[] = {{&s_wait_message, "wait_message"}};
	if (intern_names(names, sizeof names / sizeof *names) < 0)
		return -1;
	return PyModule_AddFunctions(m, receive_methods);
}
