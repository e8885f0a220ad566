/*
 * shmcp._iparml's calls: IUCV SEND, RECEIVE and REPLY in their common case.
 *
 * Each of these runs on every message; in Python, finding the buffers and
 * passing seven arguments through cffi cost about as much as the core's
 * call itself.  Here they take what a message program passes -- a
 * parameter list whose buffers are bytes (data going out) or bytearray, at
 * least as long as their length fields say -- and call the core directly.
 * Anything else (a memoryview, a short buffer, an IUCV state not made yet)
 * they answer with None before doing anything, and shmcp/iucv.py takes it
 * with every check and message of its own.
 *
 * The GIL stays held through the core's call (under a microsecond, never
 * waiting for another VM), so no other thread can resize a bytearray while
 * the core reads or writes it.  SEND's answer area is written later, when
 * the message-complete interrupt is presented: it is kept exported (a
 * memoryview in the IUCV state's answers, by message id) until then, as the
 * Python path keeps its cffi view.
 */
#include "image.h"
#include "../shmcp.h"

typedef __typeof__(shmcp_iucv_call) iucv_call_fn;

static iucv_call_fn *core_call;  /* shmcp_iucv_call in the cffi module */
static PyObject *iucv_key;       /* interrupt.IUCV: its facility_state key */
static PyObject *s_haddr, *s_slot, *s_gen, *s_facility_state, *s_answers;

static uint32_t word(const uint8_t *image, int off)
{
	return (uint32_t)image[off] << 24 | (uint32_t)image[off + 1] << 16 |
	       (uint32_t)image[off + 2] << 8 | image[off + 3];
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

/* One call's VM (the attributes shmcp/machine.py keeps for the hot paths)
 * and parameter list. */
struct call {
	shmcp_sys *h;
	int32_t slot;
	uint32_t gen;
	Image *p;
	uint8_t *image;
};

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
	if (!c->image) {  /* a broken _b: Python says so */
		PyErr_Clear();
		return 0;
	}
	PyObject *v[3] = {PyObject_GetAttr(args[0], s_haddr), PyObject_GetAttr(args[0], s_slot),
			  PyObject_GetAttr(args[0], s_gen)};
	int ok = v[0] && v[1] && v[2];
	if (ok) {
		c->h = (shmcp_sys *)PyLong_AsVoidPtr(v[0]);
		c->slot = (int32_t)PyLong_AsLong(v[1]);
		c->gen = (uint32_t)PyLong_AsUnsignedLong(v[2]);
		ok = !PyErr_Occurred();
	}
	for (int i = 0; i < 3; i++)
		Py_XDECREF(v[i]);
	return ok ? 1 : -1;
}

#define CALL_OF(name, c) \
	do { \
		int ready_ = call_of(args, nargs, name, c); \
		if (ready_ < 0) \
			return NULL; \
		if (!ready_) \
			Py_RETURN_NONE; \
	} while (0)

/* send(vm, plist): SEND's condition code (negative: the core's error), or
 * None for Python. */
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
			PyObject *state = PyObject_GetAttr(args[0], s_facility_state);
			PyObject *st = state ? PyDict_GetItemWithError(state, iucv_key) : NULL;
			answers = st ? PyObject_GetAttr(st, s_answers) : NULL;
			Py_XDECREF(state);
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
	return PyLong_FromLong(cc);
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
	return PyLong_FromLong(core_call(c.h, c.slot, c.gen, SHMCP_IUCV_RECEIVE, c.image, NULL, out));
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
	return PyLong_FromLong(core_call(c.h, c.slot, c.gen, SHMCP_IUCV_REPLY, c.image, in, NULL));
}

/* _bind(address of shmcp_iucv_call, the IUCV facility number) */
static PyObject *iucv_bind(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2 || !PyLong_Check(args[0]) || !PyLong_Check(args[1])) {
		PyErr_SetString(PyExc_TypeError, "_bind(address: int, iucv: int)");
		return NULL;
	}
	void *fn = PyLong_AsVoidPtr(args[0]);
	if (!fn) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "_bind: the core's address is 0");
		return NULL;
	}
	if (!s_haddr) {
		const char *names[] = {"_haddr", "_slot", "_gen", "facility_state", "answers"};
		PyObject **slots[] = {&s_haddr, &s_slot, &s_gen, &s_facility_state, &s_answers};
		for (int i = 0; i < 5; i++)
			if (!(*slots[i] = PyUnicode_InternFromString(names[i])))
				return NULL;
	}
	Py_XSETREF(iucv_key, Py_NewRef(args[1]));
	core_call = (iucv_call_fn *)fn;
	Py_RETURN_NONE;
}

PyMethodDef iucvcall_methods[] = {
	{"_bind", (PyCFunction)(void (*)(void))iucv_bind, METH_FASTCALL,
	 "_bind(address, iucv): the core's shmcp_iucv_call and IUCV's facility number."},
	{"send", (PyCFunction)(void (*)(void))iucv_send, METH_FASTCALL,
	 "send(vm, plist): SEND's condition code, or None for the Python path."},
	{"receive", (PyCFunction)(void (*)(void))iucv_receive, METH_FASTCALL,
	 "receive(vm, plist): RECEIVE's condition code, or None for the Python path."},
	{"reply", (PyCFunction)(void (*)(void))iucv_reply, METH_FASTCALL,
	 "reply(vm, plist): REPLY's condition code, or None for the Python path."},
	{NULL, NULL, 0, NULL},
};
