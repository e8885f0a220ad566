/*
 * shmcp._iparml's calls: IUCV SEND, RECEIVE and REPLY in their common case,
 * and wait()'s core call, which shows a message interrupt the core presented
 * as its parameter list.
 *
 * Each of these runs on every message; in Python, finding the buffers,
 * passing seven or eight arguments through cffi and building the interrupt's
 * parameter list cost about as much as the core's call itself.  Here they
 * take what a message program passes -- a parameter list whose buffers are
 * bytes (data going out) or bytearray, at least as long as their length
 * fields say -- and call the core directly.
 * Anything else (a memoryview, a short buffer, an IUCV state not made yet)
 * they answer with None before doing anything, and shmcp/iucv.py takes it
 * with every check and message of its own.
 *
 * SEND, RECEIVE and REPLY keep the GIL through the core's call (under a
 * microsecond; they never wait for another VM), so no other thread can
 * resize a bytearray while the core reads or writes it; next() lets it go,
 * since it may sleep.  SEND's answer area is written later, when
 * the message-complete interrupt is presented: it is kept exported (a
 * memoryview in the IUCV state's answers, by message id) until then, as the
 * Python path keeps its cffi view.
 */
#include "image.h"
#include "../shmcp.h"

#define IP_TYPE SHMCP_IP_RCODE  /* an interrupt's IPTYPE is in IPRCODE's byte */

typedef __typeof__(shmcp_iucv_call) iucv_call_fn;

typedef __typeof__(shmcp_next) next_fn;

static iucv_call_fn *core_call;  /* shmcp_iucv_call in the cffi module */
static next_fn *core_next;       /* shmcp_next */
static PyObject *iucv_key;       /* interrupt.IUCV: its facility_state key */
static PyObject *by_type;        /* plist._BY_TYPE as a tuple: the class per IPTYPE */
static PyObject *failed;         /* iucv._failed(vm, func, rc): raises the core's error */
static PyObject *s_ids, *s_facility_state, *s_answers, *s_buffer, *s_present_types;
static PyObject *image_slice;    /* [:SHMCP_IUCV_BUFFER_SIZE] */

static uint32_t word(const uint8_t *image, int off)
{
	return (uint32_t)be_get(image + off, 4);
}

/* The address of @buf for the core, or 0: Python's to handle.  A length of
 * 2**31 or more is a negative IPBFLNxF, the core's to answer (IPRCODE 10). */
static int address(PyObject *buf, uint32_t length, int writable, uint8_t **at)
{
	Py_ssize_t size;
	if (!buf || buf == Py_None) {
		*at = NULL;
		return !length || length >= 0x80000000u;
	}
	if (PyByteArray_CheckExact(buf)) {
		size = PyByteArray_GET_SIZE(buf);
		*at = (uint8_t *)PyByteArray_AS_STRING(buf);
	} else if (!writable && PyBytes_CheckExact(buf)) {
		size = PyBytes_GET_SIZE(buf);
		*at = (uint8_t *)PyBytes_AS_STRING(buf);
	} else {
		return 0;
	}
	return length <= (uint64_t)size || length >= 0x80000000u;
}

/* The VM's IUCV state (facility_state[IUCV], a new reference), or NULL:
 * none yet, or an exception set. */
static PyObject *iucv_state(PyObject *vm)
{
	PyObject *states = PyObject_GetAttr(vm, s_facility_state);
	PyObject *st = states ? PyDict_GetItemWithError(states, iucv_key) : NULL;
	Py_XINCREF(st);
	Py_XDECREF(states);
	return st;
}

/* One call's VM (VirtualMachine._ids: what shmcp/machine.py keeps for the
 * hot paths) and parameter list. */
struct call {
	shmcp_sys *h;
	int32_t slot;
	uint32_t gen;
	struct shmcp_record *rec;
	int64_t spin_ns;
	Image *p;
	uint8_t *image;
};

/* 1: @c has the VM's ids; 0: the VM is logged off (None: Python's to say
 * so); -1: an exception. */
static int vm_ids(PyObject *vm, struct call *c)
{
	PyObject *ids = PyObject_GetAttr(vm, s_ids);
	if (!ids)
		return -1;
	int ready = PyTuple_Check(ids) && PyTuple_GET_SIZE(ids) == 5;
	if (ready) {
		int64_t v[5];
		for (int i = 0; i < 5; i++)
			v[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(ids, i));
		ready = PyErr_Occurred() ? -1 : 1;
		c->h = (shmcp_sys *)(uintptr_t)v[0];
		c->slot = (int32_t)v[1];
		c->gen = (uint32_t)v[2];
		c->rec = (struct shmcp_record *)(uintptr_t)v[3];
		c->spin_ns = v[4];
	}
	Py_DECREF(ids);
	return ready;
}

/* 1: @c is ready; 0: None for Python (not an Image); -1: an exception. */
static int call_of(PyObject *const *args, Py_ssize_t nargs, const char *name, struct call *c)
{
	if (nargs != 2) {
		PyErr_Format(PyExc_TypeError, "%s(vm, plist) takes 2 arguments, not %zd", name, nargs);
		return -1;
	}
	if (!core_call) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml is not bound to the core (_bind)");
		return -1;
	}
	if (!PyObject_TypeCheck(args[1], &ImageType))
		return 0;
	c->p = (Image *)args[1];
	c->image = image_of(args[1]);
	if (!c->image) {  /* _b replaced by something else: the Python path's */
		PyErr_Clear();
		return 0;
	}
	return vm_ids(args[0], c);
}

#define CALL_OF(name, c) \
	do { \
		int ready_ = call_of(args, nargs, name, c); \
		if (ready_ < 0) \
			return NULL; \
		if (!ready_) \
			Py_RETURN_NONE; \
	} while (0)

/* A call's condition code, or the exception iucv._failed raises for the
 * core's error @cc < 0. */
static PyObject *outcome(PyObject *vm, int func, int cc)
{
	if (cc >= 0)
		return PyLong_FromLong(cc);
	PyObject *res = PyObject_CallFunction(failed, "Oii", vm, func, cc);
	if (res) {  /* it always raises; never hand back a negative code */
		Py_DECREF(res);
		PyErr_Format(PyExc_SystemError, "IUCV function %d failed with %d", func, cc);
	}
	return NULL;
}

/* send(vm, plist): SEND's condition code (the core's error raised), or None
 * for Python. */
static PyObject *iucv_send(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	struct call c = {0};
	CALL_OF("send", &c);
	const uint8_t *image = c.image;
	Image *p = c.p;
	uint8_t flags = image[SHMCP_IP_FLAGS1];
	uint8_t *in = NULL, *answer = NULL;
	if (!(flags & SHMCP_IPRMDATA) && !address(p->bf1, word(image, SHMCP_IP_BFLN1F), 0, &in))
		Py_RETURN_NONE;
	PyObject *answers = NULL, *keep = NULL;
	if (!(flags & SHMCP_IPNORPY)) {
		if (!address(p->bf2, word(image, SHMCP_IP_BFLN2F), 1, &answer))
			Py_RETURN_NONE;
		if (answer) {
			PyObject *st = iucv_state(args[0]);
			answers = st ? PyObject_GetAttr(st, s_answers) : NULL;
			Py_XDECREF(st);
			if (!answers) {
				if (PyErr_Occurred())
					return NULL;
				Py_RETURN_NONE;  /* no IUCV state yet: Python makes it */
			}
			keep = PyMemoryView_FromObject(p->bf2);  /* holds the export */
			if (!keep) {
				Py_DECREF(answers);
				return NULL;
			}
		}
	}
	int cc = core_call(c.h, c.slot, c.gen, SHMCP_IUCV_SEND, c.image, in, answer);
	if (cc == 0 && keep) {
		PyObject *msgid = PyLong_FromUnsignedLong(word(image, SHMCP_IP_MSGID));
		if (!msgid || PyDict_SetItem(answers, msgid, keep) < 0) {
			/* the core will write the reply there: never release it */
			Py_XDECREF(msgid);
			Py_DECREF(answers);
			return NULL;
		}
		Py_DECREF(msgid);
	}
	Py_XDECREF(keep);
	Py_XDECREF(answers);
	return outcome(args[0], SHMCP_IUCV_SEND, cc);
}

/* receive(vm, plist): RECEIVE into bf1. */
static PyObject *iucv_receive(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	struct call c = {0};
	CALL_OF("receive", &c);
	uint8_t *out;
	if (!address(c.p->bf1, word(c.image, SHMCP_IP_BFLN1F), 1, &out))
		Py_RETURN_NONE;
	return outcome(args[0], SHMCP_IUCV_RECEIVE,
		       core_call(c.h, c.slot, c.gen, SHMCP_IUCV_RECEIVE, c.image, NULL, out));
}

/* reply(vm, plist): REPLY with bf2 (or the parameter-list data). */
static PyObject *iucv_reply(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	struct call c = {0};
	CALL_OF("reply", &c);
	uint8_t *in = NULL;
	if (!(c.image[SHMCP_IP_FLAGS1] & SHMCP_IPRMDATA) &&
	    !address(c.p->bf2, word(c.image, SHMCP_IP_BFLN2F), 0, &in))
		Py_RETURN_NONE;
	return outcome(args[0], SHMCP_IUCV_REPLY,
		       core_call(c.h, c.slot, c.gen, SHMCP_IUCV_REPLY, c.image, in, NULL));
}

/* What IUCV keeps in the VM's process when the core presented a message
 * interrupt: a completion's answer area is no longer the core's to write,
 * and the interrupt goes into the declared buffer -- iucv._presented's work
 * (the path of interrupts presented in Python), here without its frame. */
static int note_presented(PyObject *vm, const uint8_t *image)
{
	PyObject *st = iucv_state(vm);
	if (!st)
		return PyErr_Occurred() ? -1 : 0;
	int ok = 1;
	if (image[IP_TYPE] < SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING) {  /* 06, 07 */
		PyObject *answers = PyObject_GetAttr(st, s_answers);
		PyObject *msgid = answers ? PyLong_FromUnsignedLong(word(image, SHMCP_IP_MSGID)) : NULL;
		ok = msgid && (PyDict_DelItem(answers, msgid) == 0 || PyErr_ExceptionMatches(PyExc_KeyError));
		if (ok)
			PyErr_Clear();
		Py_XDECREF(msgid);
		Py_XDECREF(answers);
	}
	PyObject *buffer = ok ? PyObject_GetAttr(st, s_buffer) : NULL;
	if (buffer && buffer != Py_None) {
		PyObject *copy = PyBytes_FromStringAndSize((const char *)image, IMAGE_LEN);
		ok = copy && PyObject_SetItem(buffer, image_slice, copy) == 0;
		Py_XDECREF(copy);
	}
	ok = ok && buffer;
	Py_XDECREF(buffer);
	Py_DECREF(st);
	return ok ? 0 : -1;
}

/* next(vm, fmask, timeout_ns): shmcp_next for wait() -- the IUCV message
 * interrupt the core presented, as its parameter list, or the wait's
 * outcome (SHMCP_WAIT_*, or a negative core error) for Python. */
static PyObject *iucv_next(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 3) {
		PyErr_Format(PyExc_TypeError, "next(vm, fmask, timeout_ns) takes 3 arguments, not %zd", nargs);
		return NULL;
	}
	if (!core_next) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml is not bound to the core (_bind)");
		return NULL;
	}
	PyObject *vm = args[0];
	int64_t fmask = PyLong_AsLongLong(args[1]), timeout = PyLong_AsLongLong(args[2]);
	if (PyErr_Occurred())
		return NULL;
	struct call c = {0};
	int ready = vm_ids(vm, &c);
	if (ready <= 0)  /* logged off: wait() says so */
		return ready < 0 ? NULL : PyLong_FromLong(SHMCP_E_NOTLOGGED);
	PyObject *types = PyObject_GetAttr(vm, s_present_types);  /* SET MASK changes it */
	uint32_t present = types ? (uint32_t)PyLong_AsUnsignedLong(types) : 0;
	Py_XDECREF(types);
	if (PyErr_Occurred())
		return NULL;
	struct shmcp_record *rec = c.rec;
	int rc;
	Py_BEGIN_ALLOW_THREADS  /* it may sleep: the process's other threads run */
	rc = core_next(c.h, c.slot, c.gen, (int)fmask, present, timeout, c.spin_ns, rec);
	Py_END_ALLOW_THREADS
	uint8_t itype = rec->data[IP_TYPE];
	if (rc != SHMCP_WAIT_PRESENTED || itype >= PyTuple_GET_SIZE(by_type) ||
	    !PyType_Check(PyTuple_GET_ITEM(by_type, itype)))
		return PyLong_FromLong(rc);  /* wait() presents it in Python */
	PyObject *shown = image_copy((PyTypeObject *)PyTuple_GET_ITEM(by_type, itype), rec->data);
	if (shown && note_presented(vm, rec->data) < 0)
		Py_CLEAR(shown);
	return shown;
}

/* _bind(shmcp_iucv_call's address, shmcp_next's, IUCV's facility number,
 * the parameter-list class of each interrupt type, iucv._failed) */
static PyObject *iucv_bind(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 5 || !PyLong_Check(args[0]) || !PyLong_Check(args[1]) ||
	    !PyLong_Check(args[2]) || !PyTuple_Check(args[3]) || !PyCallable_Check(args[4])) {
		PyErr_SetString(PyExc_TypeError,
				"_bind(iucv_call: int, next: int, iucv: int, by_type: tuple, failed)");
		return NULL;
	}
	void *call = PyLong_AsVoidPtr(args[0]), *next = PyLong_AsVoidPtr(args[1]);
	if (!call || !next) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "_bind: a core address is 0");
		return NULL;
	}
	if (!s_ids) {
		const char *names[] = {"_ids", "facility_state", "answers", "buffer", "present_types"};
		PyObject **slots[] = {&s_ids, &s_facility_state, &s_answers, &s_buffer, &s_present_types};
		for (size_t i = 0; i < sizeof names / sizeof *names; i++)
			if (!(*slots[i] = PyUnicode_InternFromString(names[i])))
				return NULL;
		PyObject *end = PyLong_FromLong(SHMCP_IUCV_BUFFER_SIZE);
		image_slice = end ? PySlice_New(NULL, end, NULL) : NULL;
		Py_XDECREF(end);
		if (!image_slice)
			return NULL;
	}
	Py_XSETREF(iucv_key, Py_NewRef(args[2]));
	Py_XSETREF(by_type, Py_NewRef(args[3]));
	Py_XSETREF(failed, Py_NewRef(args[4]));
	core_call = (iucv_call_fn *)call;
	core_next = (next_fn *)next;
	Py_RETURN_NONE;
}

PyMethodDef iucvcall_methods[] = {
	{"_bind", (PyCFunction)(void (*)(void))iucv_bind, METH_FASTCALL,
	 "_bind(iucv_call, next, iucv, by_type, failed): the core's two calls, IUCV's "
	 "facility, the parameter-list class per interrupt type, what raises a core error."},
	{"send", (PyCFunction)(void (*)(void))iucv_send, METH_FASTCALL,
	 "send(vm, plist): SEND's condition code (a core error raised), or None for the Python path."},
	{"receive", (PyCFunction)(void (*)(void))iucv_receive, METH_FASTCALL,
	 "receive(vm, plist): RECEIVE's condition code, or None for the Python path."},
	{"reply", (PyCFunction)(void (*)(void))iucv_reply, METH_FASTCALL,
	 "reply(vm, plist): REPLY's condition code, or None for the Python path."},
	{"next", (PyCFunction)(void (*)(void))iucv_next, METH_FASTCALL,
	 "next(vm, fmask, timeout_ns): a presented IUCV message interrupt's parameter list, "
	 "or the wait's outcome."},
	{NULL, NULL, 0, NULL},
};
