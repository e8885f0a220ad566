/*
 * shmcp._iparml.MessageCore: the C base of the Pythonic layer's Message
 * (shmcp/pythonic/message.py), and the binding of this part of the module.
 *
 * A one-way stream makes a Message once per message at the receiver, and
 * in Python that was much of its cost: __init__ (seven stores in a Python
 * frame), and the program's msg.data and msg.one_way through Python
 * properties.  Here a Message is made without a frame and its fields are
 * read by C getters.  What is rare stays in Python, on the subclass: the
 * data of a message nobody took yet (_data_slow), a RECEIVE without a VM
 * (_receive_py), replies out of the common case, rejects, repr.
 *
 * The rest of the per-message C: inbox.c (filing and taking), pumper.c
 * (the router's pump and waits), pathsend.c (Path.send), receive.c
 * (VirtualMachine.receive); pythonic.h is what they share.
 */
#include "pythonic.h"
#include <structmember.h>

static PyTypeObject MessageCoreType;
PyTypeObject *message_type;
PyTypeObject *plist_type;
PyTypeObject *comp_type;
PyObject *s_mutex, *s_vm_inbox, *s_completions, *s_router;
static PyObject *s_reply_slow, *s_data_slow, *s_receive_py;

int is_message(PyObject *o)
{
	return PyObject_TypeCheck(o, &MessageCoreType);
}

/* A new message of @type for @plist (an 08/09's parameter list). */
PyObject *message_new(PyTypeObject *type, PyObject *plist, int flags, PyObject *path,
			     PyObject *router)
{
	MessageObject *m = (MessageObject *)type->tp_alloc(type, 0);
	if (!m)
		return NULL;
	m->plist = Py_NewRef(plist);
	m->path = Py_NewRef(path);
	m->router = Py_NewRef(router);
	m->vm = (Machine *)Py_XNewRef((PyObject *)current_vm);
	m->flags = flags;
	m->answered = (flags & SHMCP_IPNORPY) != 0;
	return (PyObject *)m;
}

int is_message_type(PyObject *type)
{
	return PyType_Check(type) && PyType_IsSubtype((PyTypeObject *)type, &MessageCoreType);
}

PyObject *message_of_image(PyTypeObject *type, const uint8_t *image)
{
	MessageObject *m = (MessageObject *)type->tp_alloc(type, 0);
	if (!m)
		return NULL;
	memcpy(m->image, image, IMAGE_LEN);
	m->vm = (Machine *)Py_XNewRef((PyObject *)current_vm);
	m->flags = image[SHMCP_IP_FLAGS1];
	m->answered = (m->flags & SHMCP_IPNORPY) != 0;
	return (PyObject *)m;  /* path and router: NULL until filed */
}

/* @m's image: its parameter list's once made (NULL with an exception if
 * that is broken) */
static uint8_t *image_at(MessageObject *m)
{
	return m->plist ? image_of(m->plist) : m->image;
}

static int Message_init(MessageObject *self, PyObject *args, PyObject *kw)
{
	PyObject *plist, *path, *router;
	int flags;
	static char *kwlist[] = {"plist", "flags", "path", "router", NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OiOO:Message", kwlist, &plist, &flags, &path,
					 &router))
		return -1;
	Py_XSETREF(self->plist, Py_NewRef(plist));
	Py_XSETREF(self->path, Py_NewRef(path));
	Py_XSETREF(self->router, Py_NewRef(router));
	Py_CLEAR(self->data);
	Py_XSETREF(self->vm, (Machine *)Py_XNewRef((PyObject *)current_vm));
	self->error_cc = 0;
	self->flags = flags;
	self->answered = (flags & SHMCP_IPNORPY) != 0;
	self->taken = 0;
	return 0;
}

static int Message_traverse(MessageObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->plist);
	Py_VISIT(self->data);
	Py_VISIT(self->path);
	Py_VISIT(self->router);
	Py_VISIT(self->vm);
	return 0;
}

static int Message_clear(MessageObject *self)
{
	Py_CLEAR(self->plist);
	Py_CLEAR(self->data);
	Py_CLEAR(self->path);
	Py_CLEAR(self->router);
	Py_CLEAR(self->vm);
	return 0;
}

static void Message_dealloc(MessageObject *self)
{
	PyObject_GC_UnTrack(self);
	Message_clear(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* RECEIVE @m's data if nobody has: 1, 0 if the message is gone (purged by
 * its sender, its path severed and freed, its VM logged off), -1 with an exception -- the
 * one its RECEIVE ahead met, if it met one (receive.c). */
int fetch(MessageObject *m)
{
	if (m->data && m->data != Py_None)
		return 1;
	if (m->vm && !m->vm->logged_on) {  /* gone with its VM: never RECEIVEd as the next one */
		m->error_cc = 0;
		Py_XSETREF(m->data, PyBytes_FromStringAndSize(NULL, 0));
		m->answered = 1;
		return m->data ? 0 : -1;
	}
	if (m->error_cc) {  /* raised once: a second look RECEIVEs, as after a RECEIVE's error */
		int cc = m->error_cc;
		m->error_cc = 0;
		Py_XDECREF(receive_failed(m->vm, cc));  /* (NULL: it always raises) */
		return -1;
	}
	PyObject *got = m->plist ? receive_data(NULL, m->plist) : receive_image(m->image);
	if (got == Py_NotImplemented) {  /* no VM in C: the Python path's */
		Py_DECREF(got);
		got = PyObject_CallMethodNoArgs((PyObject *)m, s_receive_py);
	}
	if (!got)
		return -1;
	if (PyLong_CheckExact(got)) {  /* its condition code: gone */
		Py_DECREF(got);
		Py_XSETREF(m->data, PyBytes_FromStringAndSize(NULL, 0));
		/* not answered: a reply or reject asks the core, which says why
		 * (purged by its sender, its path severed) */
		return m->data ? 0 : -1;
	}
	if (!PyBytes_Check(got)) {
		PyErr_Format(PyExc_SystemError, "a message's RECEIVE gave %.100s", Py_TYPE(got)->tp_name);
		Py_DECREF(got);
		return -1;
	}
	Py_XSETREF(m->data, got);
	return 1;
}

static PyObject *Message_fetch(MessageObject *self, PyObject *unused)
{
	(void)unused;
	int got = fetch(self);
	return got < 0 ? NULL : PyBool_FromLong(got);
}

static PyObject *Message_get_data(MessageObject *self, void *closure)
{
	(void)closure;
	if (self->data && self->data != Py_None)
		return Py_NewRef(self->data);
	return PyObject_CallMethodNoArgs((PyObject *)self, s_data_slow);  /* RECEIVE it now */
}

static PyObject *Message_get_one_way(MessageObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->flags & SHMCP_IPNORPY);
}

static PyObject *Message_get_priority(MessageObject *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->flags & SHMCP_IPPRTY);
}

static PyObject *word_at(MessageObject *m, int off)
{
	uint8_t *image = image_at(m);
	return image ? PyLong_FromUnsignedLong((unsigned long)be_get(image + off, 4)) : NULL;
}

static PyObject *Message_get_msgid(MessageObject *self, void *closure)
{
	(void)closure;
	return word_at(self, SHMCP_IP_MSGID);
}

static PyObject *Message_get_trgcls(MessageObject *self, void *closure)
{
	(void)closure;
	return word_at(self, SHMCP_IP_TRGCLS);
}

static PyObject *Message_get_p(MessageObject *self, void *closure)
{
	(void)closure;
	if (!self->plist) {
		if (!plist_type) {
			PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml: bind_message() not called");
			return NULL;
		}
		if (!(self->plist = image_copy(plist_type, self->image)))
			return NULL;
	}
	return Py_NewRef(self->plist);
}

static PyGetSetDef Message_getset[] = {
	{"data", (getter)Message_get_data, NULL,
	 "The message's data, bytes (RECEIVEd from CP's storage on first use).", NULL},
	{"one_way", (getter)Message_get_one_way, NULL, "A one-way message?", NULL},
	{"priority", (getter)Message_get_priority, NULL, "A priority message?", NULL},
	{"msgid", (getter)Message_get_msgid, NULL, "The message id.", NULL},
	{"trgcls", (getter)Message_get_trgcls, NULL, "The target class the sender gave.", NULL},
	{"_p", (getter)Message_get_p, NULL,
	 "the message-pending interrupt's parameter list: RECEIVE and REPLY use it", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Message_members[] = {
	{"_flags", T_INT, offsetof(MessageObject, flags), READONLY, "the interrupt's IPFLAGS1"},
	{"_data", T_OBJECT, offsetof(MessageObject, data), 0, "the data once RECEIVEd, else None"},
	{"path", T_OBJECT, offsetof(MessageObject, path), READONLY, "the Path it came on (or None)"},
	{"_router", T_OBJECT, offsetof(MessageObject, router), READONLY, "its VM's router"},
	{"_vm", T_OBJECT, offsetof(MessageObject, vm), READONLY,
	 "the VM it came to (None if unknown): once logged off, the message is gone"},
	{"_answered", T_BOOL, offsetof(MessageObject, answered), 0,
	 "replied, rejected, one-way or gone"},
	{"taken", T_BOOL, offsetof(MessageObject, taken), 0,
	 "by a receive (it sits in two inboxes: its path's and the VM's)"},
	{"_in_path", T_BOOL, offsetof(MessageObject, in_path), 0,
	 "filed in its path's own inbox too (the path is received from)"},
	{NULL, 0, 0, 0, NULL},
};

/* @fn(@self, *args, **kw): what a C method was given, passed on to the
 * Python that does its other cases */
PyObject *pass_on(PyObject *fn, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
			 PyObject *kwnames)
{
	Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
	PyObject *stack[16];
	if (n > 15) {
		PyErr_Format(PyExc_TypeError, "%R: %zd arguments given, too many", fn, n);
		return NULL;
	}
	stack[0] = self;
	for (Py_ssize_t i = 0; i < n; i++)
		stack[i + 1] = args[i];
	return PyObject_Vectorcall(fn, stack, nargs + 1, kwnames);
}

/* _reply_slow(*args, **kw), the arguments reply() was given */
static PyObject *reply_slow(MessageObject *self, PyObject *const *args, Py_ssize_t nargs,
			    PyObject *kwnames)
{
	PyObject *fn = PyObject_GetAttr((PyObject *)Py_TYPE(self), s_reply_slow);
	PyObject *res = fn ? pass_on(fn, (PyObject *)self, args, nargs, kwnames) : NULL;
	Py_XDECREF(fn);
	return res;
}

/* reply(data=b"", *, priority=False): REPLY.  Here its common case -- bytes
 * or a bytearray, a message taken (RECEIVEd) and not answered yet -- with
 * the message's own parameter list; anything else is _reply_slow's. */
static PyObject *Message_reply(MessageObject *self, PyObject *const *args, Py_ssize_t nargs,
			       PyObject *kwnames)
{
	PyObject *data = nargs == 1 && !kwnames ? args[0] : NULL;
	if (!data || self->answered || !self->data || self->data == Py_None ||
	    !self->vm || !self->vm->logged_on ||  /* its VM's gone: the slow path says so */
	    !(PyBytes_CheckExact(data) || PyByteArray_CheckExact(data)))
		return reply_slow(self, args, nargs, kwnames);
	Py_ssize_t size = PyBytes_CheckExact(data) ? PyBytes_GET_SIZE(data) : PyByteArray_GET_SIZE(data);
	if (size > 0x7FFFFFFF)
		return reply_slow(self, args, nargs, kwnames);
	PyObject *plist = Message_get_p(self, NULL);
	if (!plist)
		return NULL;
	uint8_t *image = image_of(plist);
	if (!image) {
		Py_DECREF(plist);
		return NULL;
	}
	Image *p = (Image *)plist;
	Py_XSETREF(p->bf2, Py_NewRef(data));
	be_put(image + SHMCP_IP_BFLN2F, 4, (uint64_t)size);
	image[SHMCP_IP_FLAGS1] = 0;
	self->answered = 1;  /* meanwhile another thread's answer is ValueError */
	PyObject *got = iucv_reply(plist);
	long cc = got ? PyLong_AsLong(got) : -1;
	Py_XDECREF(got);
	PyObject *res = NULL;
	if (cc == 0 || (cc > 0 && image[SHMCP_IP_RCODE] == 5)) {  /* 5: the sender's error */
		res = Py_NewRef(Py_None);
	} else {  /* not answered (no storage, purged, ...): a retry asks the core again */
		self->answered = 0;
		if (cc > 0)
			res = PyObject_CallMethod((PyObject *)self, "_failed", "lis", cc,
						  (int)image[SHMCP_IP_RCODE], "reply");
	}
	Py_DECREF(plist);
	return res;
}

/* _claim(): True if the message was not answered and now counts as
 * answered -- the check and the mark in one step under the GIL, as
 * reply's own here, so two threads never both answer; False if it was. */
static PyObject *Message_claim(MessageObject *self, PyObject *unused)
{
	(void)unused;
	if (self->answered)
		Py_RETURN_FALSE;
	self->answered = 1;
	Py_RETURN_TRUE;
}

static PyMethodDef Message_methods[] = {
	{"reply", (PyCFunction)(void (*)(void))Message_reply, METH_FASTCALL | METH_KEYWORDS,
	 "reply($self, data=b'', *, priority=False)\n--\n\n"
	 "REPLY with ``data`` (any bytes-like object).  A reply longer than\n"
	 "the sender's answer area is cut there and raises ReplyTruncated at\n"
	 "the sender, not here.  PathSevered if the path is gone."},
	{"_claim", (PyCFunction)Message_claim, METH_NOARGS,
	 "Mark the message answered if it was not: True, else False (one step)."},
	{"_fetch", (PyCFunction)Message_fetch, METH_NOARGS,
	 "RECEIVE the data (router lock held); False if the message is gone."},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject MessageCoreType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.MessageCore",
	.tp_doc = "The C base of the Pythonic layer's Message: its fields, their getters, RECEIVE.",
	.tp_basicsize = sizeof(MessageObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Message_init,
	.tp_traverse = (traverseproc)Message_traverse,
	.tp_clear = (inquiry)Message_clear,
	.tp_dealloc = (destructor)Message_dealloc,
	.tp_getset = Message_getset,
	.tp_members = Message_members,
	.tp_methods = Message_methods,
};

/* bind_message(cls, plist_class, comp_class): message.py's Message (a
 * MessageCore subclass), the type file_messages and take_batch make, and
 * the parameter-list classes of an 08/09 (_p) and an 06/07; once. */
static PyObject *bind_message(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 3 || !is_message_type(args[0]) || !PyType_Check(args[1]) ||
	    !PyType_IsSubtype((PyTypeObject *)args[1], &ImageType) || !PyType_Check(args[2]) ||
	    !PyType_IsSubtype((PyTypeObject *)args[2], &ImageType)) {
		PyErr_SetString(PyExc_TypeError, "bind_message(cls: a MessageCore subclass, "
				"plist_class, comp_class: parameter-list classes)");
		return NULL;
	}
	if (message_type) {
		PyErr_SetString(PyExc_RuntimeError, "bind_message(): already bound");
		return NULL;
	}
	message_type = (PyTypeObject *)Py_NewRef(args[0]);
	plist_type = (PyTypeObject *)Py_NewRef(args[1]);
	comp_type = (PyTypeObject *)Py_NewRef(args[2]);
	Py_RETURN_NONE;
}

static PyMethodDef message_methods[] = {
	{"bind_message", (PyCFunction)(void (*)(void))bind_message, METH_FASTCALL,
	 "bind_message(cls, plist_class, comp_class): the Message class (a MessageCore subclass) "
	 "file_messages and take_batch make, and an 08/09's and an 06/07's parameter-list "
	 "classes; once."},
	{NULL, NULL, 0, NULL},
};

int intern_names(const struct interned *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(*names[i].s = PyUnicode_InternFromString(names[i].name)))
			return -1;
	return 0;
}

int unbound_methods(const char *module, const char *type, const struct interned *names,
		    size_t n)
{
	PyObject *mod = PyImport_ImportModule(module);
	PyObject *cls = mod ? PyObject_GetAttrString(mod, type) : NULL;
	Py_XDECREF(mod);
	if (!cls)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		if (!(*names[i].s = PyObject_GetAttrString(cls, names[i].name)))
			rc = -1;
	Py_DECREF(cls);
	return rc;
}

/* MessageCore, bind_message and the other files' module functions added
 * to @m (iparml.c's module init). */
int message_add(PyObject *m)
{
	static const struct interned names[] = {
		{&s_mutex, "mutex"}, {&s_vm_inbox, "inbox"}, {&s_completions, "_completions"},
		{&s_router, "_router"}, {&s_reply_slow, "_reply_slow"}, {&s_data_slow, "_data_slow"},
		{&s_receive_py, "_receive_py"},
	};
	if (intern_names(names, sizeof names / sizeof *names) < 0)
		return -1;
	if (PyType_Ready(&MessageCoreType) < 0 ||
	    PyModule_AddObjectRef(m, "MessageCore", (PyObject *)&MessageCoreType) < 0)
		return -1;
	if (inbox_add(m) < 0 || pumper_add(m) < 0 || pathsend_add(m) < 0 || receive_add(m) < 0)
		return -1;
	return PyModule_AddFunctions(m, message_methods);
}
