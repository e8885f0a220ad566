/*
 * vmcfreply.c - the REPLY buffers of one logon's SEND/RECVs in flight
 * (shmcp._iparml.VmcfReplies: shmcp.vmcf's _Local.replies).
 *
 * The core writes a SEND/RECV's reply into its REPLY buffer when the
 * RESPONSE is presented, in this process, so the buffer must neither move
 * nor go until then: each entry holds the buffer's export.  A dict of
 * (user, mid) -> (buffer, length, holder) cost ~450 ns a round trip (a
 * memoryview, two tuples and their hashes, a lookup, a store, a delete);
 * here an entry is the userid, the message id and a Py_buffer in a small
 * array, searched from the end: a source has at most
 * SHMCP_VMCF_MSG_LIMIT messages active, most often one.
 *
 * To Python it is a mapping of (user: 8 bytes, mid: int) to (buffer,
 * lenb): r[key] = (buffer, lenb, ...) takes the buffer's export (a
 * writable buffer), r.get / r.pop / r[key] give (buffer, lenb) back,
 * del / pop / clear let exports go.  One entry per key, as a dict's.
 */
#include "machine.h"
#include "vmcfcall.h"

struct reply {
	uint8_t user[8];
	uint32_t mid;
	uint32_t lenb;
	Py_buffer view;          /* holds the buffer's export; view.obj the buffer */
};

typedef struct {
	PyObject_HEAD
	Py_ssize_t n, cap;
	struct reply *e;
} Replies;

/* Index of the entry (@user, @mid), or -1. */
static Py_ssize_t find(Replies *r, const uint8_t *user, uint32_t mid)
{
	for (Py_ssize_t i = r->n - 1; i >= 0; i--)
		if (r->e[i].mid == mid && memcmp(r->e[i].user, user, 8) == 0)
			return i;
	return -1;
}

/* Take entry @i out (the last moves into its place), its export given to
 * *@out for the caller to release once the table is whole again: a
 * buffer's release may run code that uses the table. */
static void take_out(Replies *r, Py_ssize_t i, Py_buffer *out)
{
	*out = r->e[i].view;
	r->e[i] = r->e[--r->n];
}

int vmcf_replies_reserve(PyObject *obj)
{
	Replies *r = (Replies *)obj;
	if (r->n < r->cap)
		return 0;
	Py_ssize_t cap = r->cap ? r->cap * 2 : 4;
	struct reply *e = PyMem_Realloc(r->e, (size_t)cap * sizeof *e);
	if (!e) {
		PyErr_NoMemory();
		return -1;
	}
	r->e = e;
	r->cap = cap;
	return 0;
}

void vmcf_replies_put(PyObject *obj, const uint8_t *user, uint32_t mid, uint32_t lenb,
		      Py_buffer *view)
{
	Replies *r = (Replies *)obj;
	Py_buffer old = { .obj = NULL };
	Py_ssize_t i = find(r, user, mid);
	if (i >= 0)
		take_out(r, i, &old);
	struct reply *e = &r->e[r->n++];  /* room: reserved, or the one just freed */
	memcpy(e->user, user, 8);
	e->mid = mid;
	e->lenb = lenb;
	e->view = *view;
	if (old.obj)
		PyBuffer_Release(&old);
}

int vmcf_replies_drop(PyObject *obj, const uint8_t *user, uint32_t mid)
{
	Replies *r = (Replies *)obj;
	Py_ssize_t i = find(r, user, mid);
	if (i < 0)
		return 0;
	Py_buffer view;
	take_out(r, i, &view);
	PyBuffer_Release(&view);
	return 1;
}

/* A key (user: 8 bytes, mid: int in 0..2**32-1) into @user, *@mid: 0, or
 * -1 with a TypeError. */
static int key_of(PyObject *key, const uint8_t **user, uint32_t *mid)
{
	if (PyTuple_Check(key) && PyTuple_GET_SIZE(key) == 2 &&
	    PyBytes_Check(PyTuple_GET_ITEM(key, 0)) && PyBytes_GET_SIZE(PyTuple_GET_ITEM(key, 0)) == 8 &&
	    PyLong_Check(PyTuple_GET_ITEM(key, 1))) {
		unsigned long long m = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(key, 1));
		if (!(m == (unsigned long long)-1 && PyErr_Occurred()) && m <= 0xFFFFFFFFu) {
			*user = (const uint8_t *)PyBytes_AS_STRING(PyTuple_GET_ITEM(key, 0));
			*mid = (uint32_t)m;
			return 0;
		}
		PyErr_Clear();
	}
	PyErr_Format(PyExc_TypeError, "a REPLY buffer's key is (user: 8 bytes, mid: uint32), not %R",
		     key);
	return -1;
}

/* (buffer, lenb) of entry @i. */
static PyObject *value_of(Replies *r, Py_ssize_t i)
{
	return Py_BuildValue("(OI)", r->e[i].view.obj, (unsigned int)r->e[i].lenb);
}

static Py_ssize_t replies_len(Replies *r)
{
	return r->n;
}

static PyObject *replies_subscript(Replies *r, PyObject *key)
{
	const uint8_t *user;
	uint32_t mid;
	if (key_of(key, &user, &mid) < 0)
		return NULL;
	Py_ssize_t i = find(r, user, mid);
	if (i < 0) {
		PyErr_SetObject(PyExc_KeyError, key);
		return NULL;
	}
	return value_of(r, i);
}

static int replies_ass_subscript(Replies *r, PyObject *key, PyObject *value)
{
	const uint8_t *user;
	uint32_t mid;
	if (key_of(key, &user, &mid) < 0)
		return -1;
	if (!value) {
		if (vmcf_replies_drop((PyObject *)r, user, mid))
			return 0;
		PyErr_SetObject(PyExc_KeyError, key);
		return -1;
	}
	unsigned long lenb;
	if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) < 2 ||
	    !PyLong_Check(PyTuple_GET_ITEM(value, 1)) ||
	    ((lenb = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(value, 1))) == (unsigned long)-1 &&
	     PyErr_Occurred()) || lenb > 0xFFFFFFFFu) {
		PyErr_Clear();
		PyErr_SetString(PyExc_TypeError, "a REPLY buffer's entry is (buffer, lenb: uint32, ...)");
		return -1;
	}
	Py_buffer view;
	/* keep @key's bytes alive across the export, which may run code */
	PyObject *k = Py_NewRef(key);
	int rc = PyObject_GetBuffer(PyTuple_GET_ITEM(value, 0), &view, PyBUF_WRITABLE);
	if (rc == 0 && vmcf_replies_reserve((PyObject *)r) < 0) {
		PyBuffer_Release(&view);
		rc = -1;
	}
	if (rc == 0)
		vmcf_replies_put((PyObject *)r, user, mid, (uint32_t)lenb, &view);
	Py_DECREF(k);
	return rc;
}

static int replies_contains(Replies *r, PyObject *key)
{
	const uint8_t *user;
	uint32_t mid;
	if (key_of(key, &user, &mid) < 0)
		return -1;
	return find(r, user, mid) >= 0;
}

/* The entry get / pop name by (key[, default]) (@usage: their call):
 * 0 with its index in *@i (-1: none), or -1 with an exception. */
static int entry_arg(Replies *r, PyObject *const *args, Py_ssize_t nargs, const char *usage,
		     Py_ssize_t *i)
{
	const uint8_t *user;
	uint32_t mid;
	if (nargs < 1 || nargs > 2) {
		PyErr_SetString(PyExc_TypeError, usage);
		return -1;
	}
	if (key_of(args[0], &user, &mid) < 0)
		return -1;
	*i = find(r, user, mid);
	return 0;
}

/* get(key, default=None) */
static PyObject *replies_get(Replies *r, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t i;
	if (entry_arg(r, args, nargs, "get(key, default=None)", &i) < 0)
		return NULL;
	if (i >= 0)
		return value_of(r, i);
	return Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

/* pop(key[, default]) */
static PyObject *replies_pop(Replies *r, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t i;
	if (entry_arg(r, args, nargs, "pop(key[, default])", &i) < 0)
		return NULL;
	if (i < 0) {
		if (nargs == 2)
			return Py_NewRef(args[1]);
		PyErr_SetObject(PyExc_KeyError, args[0]);
		return NULL;
	}
	PyObject *value = value_of(r, i);
	if (!value)
		return NULL;
	Py_buffer view;
	take_out(r, i, &view);
	PyBuffer_Release(&view);
	return value;
}

static PyObject *replies_clear(Replies *r, PyObject *unused)
{
	(void)unused;
	while (r->n) {
		Py_buffer view;
		take_out(r, r->n - 1, &view);
		PyBuffer_Release(&view);
	}
	Py_RETURN_NONE;
}

static void replies_dealloc(Replies *r)
{
	replies_clear(r, NULL);
	PyMem_Free(r->e);
	Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *replies_repr(Replies *r)
{
	return PyUnicode_FromFormat("<VmcfReplies: %zd in flight>", r->n);
}

static PyMethodDef replies_methods[] = {
	{"get", (PyCFunction)(void (*)(void))replies_get, METH_FASTCALL,
	 "get(key, default=None): (buffer, lenb) of the SEND/RECV (user, mid), or default."},
	{"pop", (PyCFunction)(void (*)(void))replies_pop, METH_FASTCALL,
	 "pop(key[, default]): (buffer, lenb), its export let go; KeyError or default."},
	{"clear", (PyCFunction)replies_clear, METH_NOARGS, "clear(): let every buffer go."},
	{NULL, NULL, 0, NULL},
};

static PyMappingMethods replies_mapping = {
	.mp_length = (lenfunc)replies_len,
	.mp_subscript = (binaryfunc)replies_subscript,
	.mp_ass_subscript = (objobjargproc)replies_ass_subscript,
};

static PySequenceMethods replies_sequence = {
	.sq_contains = (objobjproc)replies_contains,
};

PyTypeObject VmcfRepliesType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.VmcfReplies",
	.tp_basicsize = sizeof(Replies),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "VmcfReplies(): the REPLY buffers of a logon's SEND/RECVs in flight, "
		  "(user, mid) -> (buffer, lenb), each buffer's export held.",
	.tp_new = PyType_GenericNew,
	.tp_dealloc = (destructor)replies_dealloc,
	.tp_repr = (reprfunc)replies_repr,
	.tp_as_mapping = &replies_mapping,
	.tp_as_sequence = &replies_sequence,
	.tp_methods = replies_methods,
};
