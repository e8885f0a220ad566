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

/* -- A batch's one-way messages RECEIVEd in one core call ---------------- */

typedef __typeof__(shmcp_iucv_receive_many) receive_many_fn;
static receive_many_fn *core_receive_many;  /* bind_receive_many's */

/* per lock round: the sender's SENDs wait behind it, and a hold of many
 * microseconds is one a busy machine may preempt; one round per 16
 * messages already saves nearly all of a round per message */
#define AHEAD_MSGS 16
#define AHEAD_BYTES 16384
/* per batch: what a wait copies into the process before the program takes
 * the first message (with the GIL held throughout).  A larger message
 * gains nothing from a shared round -- its copy is the cost -- so it is
 * the take's, as is what follows the batch's first AHEAD_TOTAL bytes */
#define AHEAD_TOTAL (64 * 4096)

/* A batch item receive_ahead may RECEIVE for @vm: a one-way Message
 * take_batch made for it (not filed yet) whose data nobody took, in a buffer (not IPRMDATA) of at
 * most AHEAD_BYTES. */
static int ahead_item(PyObject *o, Machine *vm)
{
	if (Py_TYPE(o) != message_type)
		return 0;
	MessageObject *m = (MessageObject *)o;
	return m->vm == vm && !m->router && !m->plist && !m->data &&
	       (m->flags & (SHMCP_IPNORPY | SHMCP_IPRMDATA)) == SHMCP_IPNORPY &&
	       be_get(m->image + SHMCP_IP_BFLN1F, 4) <= AHEAD_BYTES;
}

/* The @n messages @ms (ahead_item's, at most AHEAD_MSGS) RECEIVEd in one
 * core call: each one's data set, or left unset where its RECEIVE failed
 * or its bytes could not be made (the take's own RECEIVE then says why:
 * gone), so the batch is filed whatever happens here.  A core error
 * (SHMCP_E_CORRUPT) ends the run at its message, which keeps the
 * exception for its take: 1 then (read no further ahead), else 0. */
static int receive_run(MessageObject *const *ms, int n, Machine *vm)
{
	uint8_t *plists[AHEAD_MSGS] = {NULL}, *bufs[AHEAD_MSGS] = {NULL};
	PyObject *datas[AHEAD_MSGS];
	int ccs[AHEAD_MSGS], made = 0;
	for (; made < n; made++) {
		MessageObject *m = ms[made];
		uint32_t size = (uint32_t)be_get(m->image + SHMCP_IP_BFLN1F, 4);
		if (!(datas[made] = PyBytes_FromStringAndSize(NULL, size))) {
			PyErr_Clear();  /* the rest are the takes' */
			break;
		}
		m->image[SHMCP_IP_FLAGS1] = SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL;
		plists[made] = m->image;
		bufs[made] = (uint8_t *)PyBytes_AS_STRING(datas[made]);
	}
	/* how many it tried (< 0: none, the takes' RECEIVEs say why) */
	int tried = made ? core_receive_many(vm->h, vm->slot, vm->gen, made, plists, bufs, ccs) : 0;
	int failed = tried > 0 && ccs[tried - 1] < 0;
	for (int k = 0; k < made; k++) {
		if (k < tried && ccs[k] == 0) {
			ms[k]->data = datas[k];
			continue;
		}
		if (k < tried && ccs[k] < 0)
			ms[k]->error_cc = ccs[k];  /* for its take (fetch) to raise */
		Py_DECREF(datas[k]);
	}
	return failed;
}

/* receive_ahead(batch): the one-way messages of a batch the pumper of a
 * receive took (take_batch's Messages), RECEIVEd in order, one lock round
 * per AHEAD_MSGS messages or AHEAD_BYTES of data, before they are filed:
 * the program's receives then hand them out from the inbox.  Only a receive's own batch (at most
 * take_batch's 64, AHEAD_TOTAL bytes: larger messages and the rest are the
 * takes'), so back-pressure holds: what is read ahead is what one wait
 * took.  Never fails: what it could not RECEIVE is the takes', and a
 * message whose RECEIVE met a core error raises it when taken, after the
 * messages before it and before any after it is RECEIVEd. */
void receive_ahead(PyObject *batch)
{
	Machine *vm = current_vm;
	if (!core_receive_many || !vm || !vm->logged_on || !message_type ||
	    !PyList_CheckExact(batch))
		return;
	MessageObject *run[AHEAD_MSGS];  /* borrowed: the batch holds them */
	int count = 0;
	uint64_t bytes = 0, total = 0;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
		PyObject *o = PyList_GET_ITEM(batch, i);
		if (!ahead_item(o, vm))
			continue;
		MessageObject *m = (MessageObject *)o;
		uint32_t size = (uint32_t)be_get(m->image + SHMCP_IP_BFLN1F, 4);
		if ((total += size) > AHEAD_TOTAL)
			break;  /* this one and the rest are the takes' */
		bytes += size;
		run[count++] = m;
		if (count == AHEAD_MSGS || bytes >= AHEAD_BYTES) {
			if (receive_run(run, count, vm))
				return;  /* a corrupt segment: the rest are the takes' */
			count = 0;
			bytes = 0;
		}
	}
	if (count > 1)  /* a lone one is the take's */
		receive_run(run, count, vm);
}

/* bind_receive_many(address): the core's shmcp_iucv_receive_many, once. */
static PyObject *bind_receive_many(PyObject *mod, PyObject *addr)
{
	(void)mod;
	if (!PyLong_Check(addr)) {
		PyErr_SetString(PyExc_TypeError, "bind_receive_many(address: int)");
		return NULL;
	}
	void *p = core_address("bind_receive_many", addr);
	if (!p)
		return NULL;
	core_receive_many = (receive_many_fn *)p;
	Py_RETURN_NONE;
}

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
		msg = pumper_wait(router, FOR_MESSAGE, NULL, Py_None, NULL);
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
	if ((msg = take_ready(inbox, mutex)) || PyErr_Occurred())
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
slow:
	return pass_on(receive_slow, self, args, nargs, kwnames);
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
	{"bind_receive_many", (PyCFunction)bind_receive_many, METH_O,
	 "bind_receive_many(address): the core's shmcp_iucv_receive_many, once."},
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
