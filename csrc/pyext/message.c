/*
 * shmcp._iparml.MessageCore: the C base of the Pythonic layer's Message
 * (shmcp/pythonic/message.py), and the two steps every message makes
 * through the router's inboxes (shmcp/pythonic/router.py): filed into them
 * when its message-pending interrupt is taken (file_messages), taken out of
 * them, RECEIVEd, by a receive (take).
 *
 * A one-way stream pays these once per message at the receiver, and in
 * Python they were most of its cost: a Message's __init__ (seven stores in
 * a Python frame), two deque appends, the take's loop and checks, and the
 * program's msg.data and msg.one_way through Python properties.  Here a
 * Message is made without a frame, its fields are read by C getters, and
 * the inboxes stay the router's two collections.deque (every path's, and
 * each path's own), so everything else of the layer sees them as before.
 * A path's own inbox is filed only once the program receives from that
 * path (Path._receive_here): a program that takes everything by
 * vm.receive files each message once.
 * Both functions run with the router's lock held by the caller, and the
 * GIL throughout (RECEIVE never waits).  What is rare stays in Python, on
 * the subclass: the data of a message nobody took yet (_data_slow), a
 * RECEIVE without a VM (_receive_py), replies, rejects, repr.
 */
#include "message.h"
#include <structmember.h>
#include <time.h>

typedef struct {
	PyObject_HEAD
	/* the message-pending interrupt's parameter list (_p), made from
	 * image when first asked for; once made, its image is the message's */
	PyObject *plist;
	PyObject *data;    /* bytes once RECEIVEd (_data); NULL or None before */
	PyObject *path;    /* its Path, or None */
	PyObject *router;  /* its VM's Router */
	int flags;         /* the interrupt's IPFLAGS1 (_flags) */
	char answered;     /* replied, rejected, one-way or gone (_answered) */
	char taken;        /* by a receive (it sits in two inboxes) */
	char in_path;      /* filed in its path's own inbox too (_in_path) */
	uint8_t image[IMAGE_LEN];  /* the interrupt's image while plist is NULL */
} MessageObject;

static PyTypeObject MessageCoreType;
static PyTypeObject *message_type;  /* message.py's Message (bind_message) */
static PyTypeObject *plist_type;    /* and the parameter list of an 08/09 (MsgPlist) */
static PyTypeObject *comp_type;     /* and of an 06/07 (CompPlist) */
static PyObject *s_inbox, *s_receiving, *s_reply_slow, *s_sever_owed, *s_settle, *s_dispatch,
	*s_data_slow, *s_receive_py, *s_completions, *s_router,
	*s_vm_inbox, *s_mutex, *s_wait_message;

/* collections.deque's popleft and append (method descriptors, called with
 * the deque first: no lookup per call) */
static PyObject *deque_popleft, *deque_append;

static PyObject *popleft(PyObject *deque)
{
	return PyObject_Vectorcall(deque_popleft, &deque, 1, NULL);
}

static PyObject *append(PyObject *deque, PyObject *item)
{
	PyObject *args[2] = {deque, item};
	return PyObject_Vectorcall(deque_append, args, 2, NULL);
}

static int is_message(PyObject *o)
{
	return PyObject_TypeCheck(o, &MessageCoreType);
}

/* A new message of @type for @plist (an 08/09's parameter list). */
static PyObject *message_new(PyTypeObject *type, PyObject *plist, int flags, PyObject *path,
			     PyObject *router)
{
	MessageObject *m = (MessageObject *)type->tp_alloc(type, 0);
	if (!m)
		return NULL;
	m->plist = Py_NewRef(plist);
	m->path = Py_NewRef(path);
	m->router = Py_NewRef(router);
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
	return 0;
}

static int Message_clear(MessageObject *self)
{
	Py_CLEAR(self->plist);
	Py_CLEAR(self->data);
	Py_CLEAR(self->path);
	Py_CLEAR(self->router);
	return 0;
}

static void Message_dealloc(MessageObject *self)
{
	PyObject_GC_UnTrack(self);
	Message_clear(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* RECEIVE @m's data if nobody has: 1, 0 if the message is gone (purged by
 * its sender, its path severed and freed), -1 with an exception. */
static int fetch(MessageObject *m)
{
	if (m->data && m->data != Py_None)
		return 1;
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
		m->answered = 1;
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
	{"_answered", T_BOOL, offsetof(MessageObject, answered), 0,
	 "replied, rejected, one-way or gone"},
	{"taken", T_BOOL, offsetof(MessageObject, taken), 0,
	 "by a receive (it sits in two inboxes: its path's and the VM's)"},
	{"_in_path", T_BOOL, offsetof(MessageObject, in_path), 0,
	 "filed in its path's own inbox too (the path is received from)"},
	{NULL, 0, 0, 0, NULL},
};

static PyObject *iucv_reply_fn;  /* this module's reply(plist) */

/* @fn(@self, *args, **kw): what a C method was given, passed on to the
 * Python that does its other cases */
static PyObject *pass_on(PyObject *fn, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
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
	    !(PyBytes_CheckExact(data) || PyByteArray_CheckExact(data)) || !iucv_reply_fn)
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
	self->answered = 1;
	PyObject *cc = PyObject_Vectorcall(iucv_reply_fn, &plist, 1, NULL);
	int rc = cc ? PyObject_IsTrue(cc) : -1;
	Py_XDECREF(cc);
	PyObject *res = NULL;
	if (rc == 0 || (rc > 0 && image[SHMCP_IP_RCODE] == 5))  /* 5: the sender's error */
		res = Py_NewRef(Py_None);
	else if (rc > 0)
		res = PyObject_CallMethod((PyObject *)self, "_failed", "is",
					  (int)image[SHMCP_IP_RCODE], "reply");
	Py_DECREF(plist);
	return res;
}

static PyMethodDef Message_methods[] = {
	{"reply", (PyCFunction)(void (*)(void))Message_reply, METH_FASTCALL | METH_KEYWORDS,
	 "reply($self, data=b'', *, priority=False)\n--\n\n"
	 "REPLY with ``data`` (any bytes-like object).  A reply longer than\n"
	 "the sender's answer area is cut there and raises ReplyTruncated at\n"
	 "the sender, not here.  PathSevered if the path is gone."},
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

/* Pop the head of @own while it is a message already taken (it was taken
 * through its other inbox). */
static int trim(PyObject *own)
{
	for (;;) {
		Py_ssize_t n = PyObject_Size(own);
		if (n <= 0)
			return (int)n;
		PyObject *head = PySequence_GetItem(own, 0);
		if (!head)
			return -1;
		int taken = is_message(head) && ((MessageObject *)head)->taken;
		Py_DECREF(head);
		if (!taken)
			return 0;
		PyObject *o = popleft(own);
		if (!o)
			return -1;
		Py_DECREF(o);
	}
}

/* The SEVER @path's end owes once its last message is taken (router.py's
 * _settle), if it owes one. */
static int settle(PyObject *router, PyObject *path)
{
	PyObject *owed = PyObject_GetAttr(path, s_sever_owed);
	if (!owed)
		return -1;
	int yes = PyObject_IsTrue(owed);
	Py_DECREF(owed);
	if (yes <= 0)
		return yes;
	PyObject *r = PyObject_CallMethodOneArg(router, s_settle, path);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

/* take(inbox, vm_inbox): the first message of @inbox not taken yet,
 * RECEIVEd, or None; the other inbox it sits in (its path's, or the VM's
 * @vm_inbox) trimmed of taken ones (router mutex held). */
static PyObject *take_from(PyObject *inbox, PyObject *vm_inbox);

static PyObject *take(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "take(inbox, vm_inbox)");
		return NULL;
	}
	return take_from(args[0], args[1]);
}

static PyObject *take_from(PyObject *inbox, PyObject *vm_inbox)
{
	for (;;) {
		Py_ssize_t n = PyObject_Size(inbox);
		if (n <= 0) {
			if (n < 0)
				return NULL;
			Py_RETURN_NONE;
		}
		PyObject *o = popleft(inbox);
		if (!o)
			return NULL;
		if (!is_message(o)) {
			PyErr_Format(PyExc_TypeError, "take(): an inbox holds a %.100s", Py_TYPE(o)->tp_name);
			Py_DECREF(o);
			return NULL;
		}
		MessageObject *m = (MessageObject *)o;
		if (m->taken) {
			Py_DECREF(o);
			continue;
		}
		m->taken = 1;
		PyObject *path = Py_NewRef(m->path ? m->path : Py_None);
		int rc = 0;
		if (inbox != vm_inbox || m->in_path) {
			PyObject *own = inbox == vm_inbox ? PyObject_GetAttr(path, s_inbox)
							  : Py_NewRef(vm_inbox);
			rc = own ? trim(own) : -1;
			Py_XDECREF(own);
		}
		int got = rc < 0 ? -1 : fetch(m);
		if (got >= 0 && path != Py_None && settle(m->router, path) < 0)
			got = -1;
		Py_DECREF(path);
		if (got > 0)
			return o;
		Py_DECREF(o);
		if (got < 0)
			return NULL;
	}
}

/* An item of a batch that is a message's: 2 a Message take_batch made
 * (path and router not set yet), 1 an 08/09's @msg_class parameter list,
 * 0 anything else; *@image its image. */
static int message_item(PyObject *got, PyObject *msg_class, uint8_t **image)
{
	if (Py_TYPE(got) == message_type && !((MessageObject *)got)->router) {
		*image = ((MessageObject *)got)->image;
		return 2;
	}
	if ((PyObject *)Py_TYPE(got) == msg_class) {
		*image = image_of(got);
		return *image ? 1 : -1;
	}
	return 0;
}

/* The Message of batch item @got (message_item @kind) on @path: a new
 * reference. */
static PyObject *message_for(PyObject *got, int kind, const uint8_t *image, PyObject *path,
			     PyObject *router)
{
	if (kind == 1)
		return message_new(message_type, got, image[SHMCP_IP_FLAGS1], path, router);
	MessageObject *m = (MessageObject *)got;
	Py_XSETREF(m->path, Py_NewRef(path));
	Py_XSETREF(m->router, Py_NewRef(router));
	return Py_NewRef(got);
}

/* A lone message taken by the pumper that waits for one (router.py's
 * wait_message): taken at once, RECEIVEd; None if it is gone meanwhile
 * (purged, its path severed). */
static PyObject *take_lone(PyObject *got, int kind, const uint8_t *image, PyObject *paths,
			   PyObject *router)
{
	PyObject *key = PyLong_FromLong((long)be_get(image + SHMCP_IP_PATHID, 2));
	if (!key)
		return NULL;
	PyObject *path = PyDict_GetItemWithError(paths, key);
	Py_DECREF(key);
	if (!path && PyErr_Occurred())
		return NULL;
	PyObject *o = message_for(got, kind, image, path ? path : Py_None, router);
	if (!o)
		return NULL;
	MessageObject *m = (MessageObject *)o;
	m->taken = 1;
	int fetched = fetch(m);
	if (fetched >= 0 && m->path != Py_None && settle(router, m->path) < 0)
		fetched = -1;
	if (fetched > 0)
		return o;
	Py_DECREF(o);
	if (fetched < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* file_messages(batch, inbox, paths, router, msg_class, lone): a batch's
 * interrupts into the router's state (mutex held): each message-pending
 * one (a Message take_batch made, or a @msg_class parameter list) a
 * Message in @inbox and in its path's inbox, any other through
 * router.dispatch.  With @lone, a batch of one message while @inbox is
 * empty is not filed but taken (take_lone) and returned; else None. */
static PyObject *file_messages(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 6 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[2]) ||
	    !PyType_Check(args[4])) {
		PyErr_SetString(PyExc_TypeError, "file_messages(batch: list, inbox, paths: dict, "
				"router, msg_class: type, lone: bool)");
		return NULL;
	}
	if (!message_type) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml: bind_message() not called");
		return NULL;
	}
	PyObject *batch = args[0], *inbox = args[1], *paths = args[2], *router = args[3];
	PyObject *msg_class = args[4];
	int lone = PyObject_IsTrue(args[5]);
	if (lone < 0)
		return NULL;
	uint8_t *image;
	int kind;
	if (lone && PyList_GET_SIZE(batch) == 1 &&
	    (kind = message_item(PyList_GET_ITEM(batch, 0), msg_class, &image)) != 0) {
		Py_ssize_t queued = kind < 0 ? -1 : PyObject_Size(inbox);
		if (queued < 0)
			return NULL;
		if (!queued)
			return take_lone(PyList_GET_ITEM(batch, 0), kind, image, paths, router);
	}
	long pathid = -1;
	PyObject *path = NULL, *own = NULL;  /* the last message's path and its inbox */
	PyObject *res = NULL;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
		PyObject *got = PyList_GET_ITEM(batch, i);
		kind = message_item(got, msg_class, &image);
		if (kind < 0)
			goto done;
		if (!kind) {
			PyObject *r = PyObject_CallMethodOneArg(router, s_dispatch, got);
			if (!r)
				goto done;
			Py_DECREF(r);
			pathid = -1;  /* it may have changed the paths */
			continue;
		}
		long id = (long)be_get(image + SHMCP_IP_PATHID, 2);
		if (id != pathid) {
			Py_CLEAR(path);
			Py_CLEAR(own);
			PyObject *key = PyLong_FromLong(id);
			if (!key)
				goto done;
			path = PyDict_GetItemWithError(paths, key);
			Py_DECREF(key);
			if (!path && PyErr_Occurred())
				goto done;
			path = Py_NewRef(path ? path : Py_None);
			int receiving = 0;  /* received from: its own inbox too */
			if (path != Py_None) {
				PyObject *flag = PyObject_GetAttr(path, s_receiving);
				receiving = flag ? PyObject_IsTrue(flag) : -1;
				Py_XDECREF(flag);
			}
			if (receiving < 0 || (receiving && !(own = PyObject_GetAttr(path, s_inbox))))
				goto done;
			pathid = id;
		}
		PyObject *msg = message_for(got, kind, image, path, router);
		if (!msg)
			goto done;
		PyObject *r = append(inbox, msg);
		if (r && own) {
			Py_DECREF(r);
			r = append(own, msg);
			((MessageObject *)msg)->in_path = 1;
		}
		Py_DECREF(msg);
		if (!r)
			goto done;
		Py_DECREF(r);
	}
	res = Py_NewRef(Py_None);
done:
	Py_XDECREF(path);
	Py_XDECREF(own);
	return res;
}

enum { FOR_MESSAGE, FOR_REPLY };
static PyObject *pumper_wait(PyObject *router, int mode, PyObject *msgid, PyObject *deadline);

/* -- vm.receive's common case ------------------------------------------
 *
 * A message already in the VM's inbox (a batch filed it): taken under the
 * router's lock, with no Python frame; an empty inbox: router.wait_message
 * at once.  Anything else -- a timeout, no router yet -- is
 * PythonicVM.receive's (vm.py). */

static PyObject *receive_slow;               /* PythonicVM.receive */
static PyObject *lock_acquire, *lock_release;  /* _thread.lock's, called with the lock first */

/* @mutex.acquire() or .release() (@how: lock_acquire, lock_release): 0,
 * or -1 with an exception. */
static int lock_call(PyObject *how, PyObject *mutex)
{
	PyObject *r = PyObject_Vectorcall(how, &mutex, 1, NULL);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

/* The exception pending when a finally begins, held through its steps. */
struct held {
	PyObject *type, *value, *tb;
};

static void hold(struct held *h)
{
	PyErr_Fetch(&h->type, &h->value, &h->tb);
}

/* A finally's end: the held exception back, or -- when its own steps
 * failed (@failed) -- theirs wins and *@res, the try's outcome, goes. */
static void unhold(struct held *h, int failed, PyObject **res)
{
	if (!failed) {
		PyErr_Restore(h->type, h->value, h->tb);
		return;
	}
	Py_CLEAR(*res);
	Py_XDECREF(h->type);
	Py_XDECREF(h->value);
	Py_XDECREF(h->tb);
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

/* -- The pumper's core wait (router.py's pump) --------------------------- */

static PyObject *s_pumping, *s_events, *s_watchers, *s_vm, *s_counts, *s_sleepers, *s_cond,
	*s_notify_all, *s_take_rest, *s_paths;

static PyObject *count_completions(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);

/* The core wait's timeout for the monotonic @deadline (None: -1, none). */
static int64_t timeout_of(PyObject *deadline)
{
	if (deadline == Py_None)
		return -1;
	double at = PyFloat_AsDouble(deadline);
	if (at == -1.0 && PyErr_Occurred())
		return -2;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);  /* time.monotonic()'s clock */
	double left = at - ((double)ts.tv_sec + ts.tv_nsec * 1e-9);
	return left > 0 ? (int64_t)(left * 1e9) : 0;
}

/* The batch the core wait takes with @router's mutex let go: take_batch's,
 * what it leaves to wait()'s Python path finished by router._take_rest. */
static PyObject *pump_take(PyObject *router, PyObject *deadline, int fast)
{
	PyObject *batch = Py_NewRef(Py_NotImplemented);
	if (fast) {
		PyObject *vm = PyObject_GetAttr(router, s_vm);
		PyObject *counts = vm ? PyObject_GetAttr(router, s_counts) : NULL;
		int64_t timeout_ns = counts ? timeout_of(deadline) : -2;
		PyObject *targs[4] = {vm, NULL, counts, (PyObject *)message_type};
		targs[1] = timeout_ns == -2 ? NULL : PyLong_FromLongLong(timeout_ns);
		Py_DECREF(batch);
		batch = targs[1] ? take_batch(NULL, targs, message_type ? 4 : 3) : NULL;
		Py_XDECREF(targs[1]);
		Py_XDECREF(counts);
		Py_XDECREF(vm);
		if (!batch)
			return NULL;
		Py_ssize_t n = batch == Py_NotImplemented ? -1 : PyList_GET_SIZE(batch);
		if (n == 0 || (n > 0 && !PyLong_CheckExact(PyList_GET_ITEM(batch, n - 1)) &&
			       !PyBytes_CheckExact(PyList_GET_ITEM(batch, n - 1))))
			return batch;
	}
	PyObject *rest = PyObject_CallMethodObjArgs(router, s_take_rest, batch, deadline, NULL);
	Py_DECREF(batch);
	return rest;
}

/* pump(router, deadline): router.py's pump -- as the pumper (mutex held,
 * nobody pumping): the core wait with the mutex let go (take_batch, the
 * next interrupt and the one-way traffic queued behind it), the one-way
 * completions it counted given to their paths; what is left to dispatch,
 * in order (a list).  The mutex is held again, and the sleepers woken,
 * whatever happened (an exception, Ctrl-C in the wait). */
static PyObject *pump(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "pump(router, deadline)");
		return NULL;
	}
	PyObject *router = args[0], *deadline = args[1];
	PyObject *events = PyObject_GetAttr(router, s_events);
	PyObject *watchers = events ? PyObject_GetAttr(router, s_watchers) : NULL;
	PyObject *mutex = watchers ? PyObject_GetAttr(router, s_mutex) : NULL;
	int watched = mutex ? PyObject_IsTrue(watchers) : -1;
	int fast = events == Py_None && watched == 0;  /* else each completion is an event */
	Py_XDECREF(events);
	Py_XDECREF(watchers);
	if (watched < 0 || PyObject_SetAttr(router, s_pumping, Py_True) < 0) {
		Py_XDECREF(mutex);
		return NULL;
	}
	PyObject *batch = NULL, *r;
	if (lock_call(lock_release, mutex) == 0) {
		batch = pump_take(router, deadline, fast);
		/* finally: the mutex again, pumping cleared, sleepers woken */
		struct held h;
		hold(&h);
		int ok = lock_call(lock_acquire, mutex) == 0 &&
			 PyObject_SetAttr(router, s_pumping, Py_False) == 0;
		PyObject *sleepers = ok ? PyObject_GetAttr(router, s_sleepers) : NULL;
		int some = sleepers ? PyObject_IsTrue(sleepers) : -1;
		Py_XDECREF(sleepers);
		if (some > 0) {  /* they run once this thread lets go of mutex */
			PyObject *cond = PyObject_GetAttr(router, s_cond);
			r = cond ? PyObject_CallMethodNoArgs(cond, s_notify_all) : NULL;
			Py_XDECREF(cond);
			some = r ? 0 : -1;
			Py_XDECREF(r);
		}
		unhold(&h, some < 0, &batch);
	}
	Py_DECREF(mutex);
	if (!batch)
		return NULL;
	PyObject *counts = PyObject_GetAttr(router, s_counts);
	PyObject *paths = counts && PyDict_Check(counts) && PyDict_GET_SIZE(counts) ?
			  PyObject_GetAttr(router, s_paths) : NULL;
	if (paths) {
		PyObject *cargs[2] = {counts, paths};
		r = count_completions(NULL, cargs, 2);
		Py_XDECREF(r);
		Py_DECREF(paths);
		if (!r)
			Py_CLEAR(batch);
	} else if (!counts || PyErr_Occurred()) {
		Py_CLEAR(batch);
	}
	Py_XDECREF(counts);
	return batch;
}

/* -- A send's common cases (path.py's send) ------------------------------- */

static PyObject *iucv_send_fn;  /* this module's send(plist) */

/* send_one_way(plist, data): a one-way SEND of @data (bytes or bytearray)
 * with @plist, the path's own for this call: 0 once queued, else IPRCODE
 * (3: at the limit); NotImplemented if the SEND would not be the C path's
 * (no VM): the caller's general path does it.  One call with the GIL held
 * throughout, so one parameter list serves every thread of the path. */
static PyObject *send_one_way(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2 || !PyObject_TypeCheck(args[0], &ImageType) ||
	    !(PyBytes_CheckExact(args[1]) || PyByteArray_CheckExact(args[1]))) {
		PyErr_SetString(PyExc_TypeError, "send_one_way(plist, data: bytes | bytearray)");
		return NULL;
	}
	if (!current_vm || !current_vm->logged_on)
		Py_RETURN_NOTIMPLEMENTED;
	Image *p = (Image *)args[0];
	PyObject *data = args[1];
	uint8_t *image = image_of(args[0]);
	if (!image)
		return NULL;
	Py_ssize_t size = PyBytes_CheckExact(data) ? PyBytes_GET_SIZE(data) : PyByteArray_GET_SIZE(data);
	if (size > 0x7FFFFFFF)
		Py_RETURN_NOTIMPLEMENTED;
	Py_XSETREF(p->bf1, Py_NewRef(data));
	be_put(image + SHMCP_IP_BFLN1F, 4, (uint64_t)size);
	image[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
	PyObject *cc = PyObject_Vectorcall(iucv_send_fn, args, 1, NULL);
	if (!cc)
		return NULL;
	int queued = cc == Py_False || (PyLong_Check(cc) && PyLong_AsLong(cc) == 0);
	Py_DECREF(cc);
	if (queued)
		return PyLong_FromLong(0);
	return PyLong_FromLong(image[SHMCP_IP_RCODE] ? image[SHMCP_IP_RCODE] : -1);
}

/* send_two_way(plist, data, answer): the round trip's SEND (path.py's
 * _round_trip) of @data (bytes or bytearray), the reply to land in
 * @answer (a bytearray), with @plist, the path's own for this call, in one
 * call with the GIL held: the message id (>= 0), or -1 - IPRCODE if the
 * SEND was refused; NotImplemented if it would not be the C path's (no
 * VM, no IUCV state yet): the caller's general path does it. */
static PyObject *send_two_way(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 3 || !PyObject_TypeCheck(args[0], &ImageType) ||
	    !(PyBytes_CheckExact(args[1]) || PyByteArray_CheckExact(args[1])) ||
	    !PyByteArray_CheckExact(args[2])) {
		PyErr_SetString(PyExc_TypeError,
				"send_two_way(plist, data: bytes | bytearray, answer: bytearray)");
		return NULL;
	}
	Machine *vm = current_vm;
	if (!vm || !vm->logged_on || !vm->answers || !PyDict_CheckExact(vm->answers))
		Py_RETURN_NOTIMPLEMENTED;
	Image *p = (Image *)args[0];
	PyObject *data = args[1], *answer = args[2];
	uint8_t *image = image_of(args[0]);
	if (!image)
		return NULL;
	Py_ssize_t size = PyBytes_CheckExact(data) ? PyBytes_GET_SIZE(data) : PyByteArray_GET_SIZE(data);
	Py_ssize_t room = PyByteArray_GET_SIZE(answer);
	if (size > 0x7FFFFFFF || room > 0x7FFFFFFF)
		Py_RETURN_NOTIMPLEMENTED;
	Py_XSETREF(p->bf1, Py_NewRef(data));
	Py_XSETREF(p->bf2, Py_NewRef(answer));
	be_put(image + SHMCP_IP_BFLN1F, 4, (uint64_t)size);
	be_put(image + SHMCP_IP_BFLN2F, 4, (uint64_t)room);
	image[SHMCP_IP_FLAGS1] = 0;
	PyObject *cc = PyObject_Vectorcall(iucv_send_fn, args, 1, NULL);
	Py_CLEAR(p->bf2);  /* the answers record keeps the area exported; the plist needs it no more */
	p->bf2 = Py_NewRef(Py_None);
	if (!cc)
		return NULL;
	int queued = cc == Py_False || (PyLong_Check(cc) && PyLong_AsLong(cc) == 0);
	Py_DECREF(cc);
	if (queued)
		return PyLong_FromUnsignedLong((unsigned long)be_get(image + SHMCP_IP_MSGID, 4));
	return PyLong_FromLong(-1 - (long)image[SHMCP_IP_RCODE]);
}

/* answer_of(got, answer): the reply a two-way send returns for its
 * message-complete interrupt @got (a parameter list) when it is the plain
 * case -- no audit trail, the reply in @answer (a bytearray) -- as new
 * bytes; else None (path.py's outcome says what it is). */
static PyObject *answer_of(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2 || !PyObject_TypeCheck(args[0], &ImageType) || !PyByteArray_CheckExact(args[1])) {
		PyErr_SetString(PyExc_TypeError, "answer_of(got, answer: bytearray)");
		return NULL;
	}
	uint8_t *image = image_of(args[0]);
	if (!image)
		return NULL;
	Py_ssize_t room = PyByteArray_GET_SIZE(args[1]);
	uint64_t left = be_get(image + SHMCP_IP_BFLN2F, 4);
	if (be_get(image + SHMCP_IP_AUDIT, 2) || (image[SHMCP_IP_FLAGS1] & SHMCP_IPRMDATA) ||
	    left > (uint64_t)room)
		Py_RETURN_NONE;
	return PyBytes_FromStringAndSize(PyByteArray_AS_STRING(args[1]), room - (Py_ssize_t)left);
}

/* -- A pumper's wait for one thing (router.py's wait_message, wait_reply) -- */

static PyObject *s_completed, *s_fg_waits, *s_file, *one;

/* router.fg_waits += 1: the acceptor keeps out of the way */
static int count_wait(PyObject *router)
{
	PyObject *waits = PyObject_GetAttr(router, s_fg_waits);
	PyObject *more = waits ? PyNumber_Add(waits, one) : NULL;
	int rc = more ? PyObject_SetAttr(router, s_fg_waits, more) : -1;
	Py_XDECREF(more);
	Py_XDECREF(waits);
	return rc;
}

/* Whether nobody watches @router's dispatch (no events, no watchers):
 * 1, 0, or -1 with an exception. */
static int unwatched(PyObject *router)
{
	PyObject *events = PyObject_GetAttr(router, s_events);
	PyObject *watchers = events ? PyObject_GetAttr(router, s_watchers) : NULL;
	int watched = watchers ? PyObject_IsTrue(watchers) : -1;
	int res = watched < 0 ? -1 : events == Py_None && !watched;
	Py_XDECREF(events);
	Py_XDECREF(watchers);
	return res;
}

/* @batch's lone item if it is the completion of message @msgid (an
 * 06/07's parameter list), its path's completions counted; else NULL
 * (and no exception) -- or NULL with one. */
static PyObject *own_completion(PyObject *router, PyObject *batch, PyObject *msgid)
{
	if (PyList_GET_SIZE(batch) != 1 || Py_TYPE(PyList_GET_ITEM(batch, 0)) != comp_type)
		return NULL;
	PyObject *got = PyList_GET_ITEM(batch, 0);
	uint8_t *image = image_of(got);
	if (!image)
		return NULL;
	if (PyLong_AsUnsignedLong(msgid) != (unsigned long)be_get(image + SHMCP_IP_MSGID, 4))
		return NULL;  /* (no error: msgid came from send_two_way or SEND) */
	PyObject *one_path = PyDict_New();
	PyObject *key = one_path ? PyLong_FromLong((long)be_get(image + SHMCP_IP_PATHID, 2)) : NULL;
	PyObject *paths = key ? PyObject_GetAttr(router, s_paths) : NULL;
	int rc = paths && PyDict_Check(paths) ? PyDict_SetItem(one_path, key, one) : -1;
	if (rc == 0) {
		PyObject *cargs[2] = {one_path, paths};
		PyObject *r = count_completions(NULL, cargs, 2);
		rc = r ? 0 : -1;
		Py_XDECREF(r);
	}
	Py_XDECREF(paths);
	Py_XDECREF(key);
	Py_XDECREF(one_path);
	return rc < 0 ? NULL : Py_NewRef(got);
}

/* As the pumper, @router's mutex taken here: the next message (FOR_MESSAGE,
 * up to the monotonic @deadline or None: TimeoutError) or the completion
 * of message @msgid (FOR_REPLY), pumping meanwhile; None once another
 * thread pumps (the caller then waits as a follower, wait_until). */
static PyObject *pumper_wait(PyObject *router, int mode, PyObject *msgid, PyObject *deadline)
{
	PyObject *box = PyObject_GetAttr(router, mode == FOR_MESSAGE ? s_vm_inbox : s_completed);
	PyObject *mutex = box ? PyObject_GetAttr(router, s_mutex) : NULL;
	PyObject *paths = mutex ? PyObject_GetAttr(router, s_paths) : NULL;
	PyObject *res = NULL, *r;
	if (!paths || count_wait(router) < 0 || lock_call(lock_acquire, mutex) < 0)
		goto out;
	for (;;) {
		PyObject *flag = PyObject_GetAttr(router, s_pumping);
		int busy = flag ? PyObject_IsTrue(flag) : -1;
		Py_XDECREF(flag);
		if (busy) {
			res = busy > 0 ? Py_NewRef(Py_None) : NULL;  /* a follower */
			break;
		}
		if (mode == FOR_MESSAGE) {
			PyObject *msg = take_from(box, box);
			if (msg != Py_None) {
				res = msg;
				break;
			}
			Py_DECREF(msg);
			int64_t left = timeout_of(deadline);
			if (left < -1)
				break;
			if (!left) {
				PyErr_SetString(PyExc_TimeoutError, "timed out");
				break;
			}
		} else {
			PyObject *got = PyDict_GetItemWithError(box, msgid);
			if (got) {
				res = Py_NewRef(got);
				if (PyDict_DelItem(box, msgid) < 0)
					Py_CLEAR(res);
				break;
			}
			if (PyErr_Occurred())
				break;
		}
		PyObject *pargs[2] = {router, deadline};
		PyObject *batch = pump(NULL, pargs, 2);
		int fast = batch ? unwatched(router) : -1;
		if (fast > 0 && mode == FOR_MESSAGE) {  /* a lone 08/09 while the inbox is empty */
			PyObject *fargs[6] = {batch, box, paths, router, (PyObject *)plist_type, Py_True};
			res = file_messages(NULL, fargs, 6);
			Py_DECREF(batch);
			if (res != Py_None)
				break;  /* that message, or an error */
			Py_CLEAR(res);
			continue;
		} else if (fast > 0) {  /* its own completion, alone: kept, not dispatched */
			res = own_completion(router, batch, msgid);
			if (res || PyErr_Occurred()) {
				Py_DECREF(batch);
				break;
			}
		}
		r = fast < 0 ? NULL : PyObject_CallMethodOneArg(router, s_file, batch);
		Py_XDECREF(batch);
		if (!r)
			break;
		Py_DECREF(r);
	}
	struct held h;  /* finally: the mutex let go */
	hold(&h);
	unhold(&h, lock_call(lock_release, mutex) < 0, &res);
out:
	Py_XDECREF(paths);
	Py_XDECREF(mutex);
	Py_XDECREF(box);
	return res;
}

/* wait_message(router, deadline): pumper_wait FOR_MESSAGE. */
static PyObject *wait_message(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "wait_message(router, deadline)");
		return NULL;
	}
	return pumper_wait(args[0], FOR_MESSAGE, NULL, args[1]);
}

/* wait_reply(router, msgid): pumper_wait FOR_REPLY. */
static PyObject *wait_reply(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2 || !PyLong_CheckExact(args[1])) {
		PyErr_SetString(PyExc_TypeError, "wait_reply(router, msgid: int)");
		return NULL;
	}
	return pumper_wait(args[0], FOR_REPLY, args[1], Py_None);
}

/* -- path.send's common cases as a method (path.py's Path.send) ---------- */

static PyObject *send_slow;  /* Path._send_py: send in Python, every case */
static PyObject *s_state, *s_active, *s_oneway, *s_round_trip, *s_wait_room, *s_one_way,
	*s_router_attr, *s_spares, *s_twoway, *s_wait_reply, *s_outcome;

/* Whether @path's _state is "active": 1, 0, or -1 with an exception. */
static int active(PyObject *path)
{
	PyObject *state = PyObject_GetAttr(path, s_state);
	if (!state)
		return -1;
	int yes = state == s_active || (PyUnicode_Check(state) && !PyUnicode_Compare(state, s_active));
	Py_DECREF(state);
	return yes;
}

/* Path._round_trip(data) (path.py), with a spare answer area at hand:
 * send_two_way, the pumper's wait for its completion (a follower's:
 * router.wait_reply), the reply (answer_of; else Path._outcome says what
 * it is), the area back among the spares; None if the SEND was refused. */
static PyObject *round_trip(PyObject *self, PyObject *data)
{
	PyObject *spares = PyObject_GetAttr(self, s_spares);
	if (!spares)
		return NULL;
	if (!PyList_CheckExact(spares) || !PyList_GET_SIZE(spares) ||  /* none at hand */
	    !PyByteArray_CheckExact(PyList_GET_ITEM(spares, PyList_GET_SIZE(spares) - 1))) {
		Py_DECREF(spares);
		return PyObject_CallMethodOneArg(self, s_round_trip, data);
	}
	Py_ssize_t last = PyList_GET_SIZE(spares) - 1;
	PyObject *answer = Py_NewRef(PyList_GET_ITEM(spares, last));
	PyObject *plist = PyList_SetSlice(spares, last, last + 1, NULL) < 0 ? NULL
			  : PyObject_GetAttr(self, s_twoway);
	PyObject *sargs[3] = {plist, data, answer};
	PyObject *msgid = plist ? send_two_way(NULL, sargs, 3) : NULL;
	PyObject *router = NULL, *got = NULL, *res = NULL;
	if (!msgid)
		goto done;
	if (!PyLong_CheckExact(msgid) || PyLong_AsLong(msgid) < 0) {  /* refused, or no VM in C */
		res = Py_NewRef(Py_None);
		goto done;
	}
	if (!(router = PyObject_GetAttr(self, s_router_attr)))
		goto done;
	got = pumper_wait(router, FOR_REPLY, msgid, Py_None);
	if (got == Py_None) {  /* another thread pumps: follow it */
		Py_DECREF(got);
		got = PyObject_CallMethodOneArg(router, s_wait_reply, msgid);
	}
	if (got) {
		PyObject *aargs[2] = {got, answer};
		res = answer_of(NULL, aargs, 2);
		if (res == Py_None) {
			Py_DECREF(res);
			res = PyObject_CallMethodObjArgs(self, s_outcome, got, answer, NULL);
		}
	}
done:;  /* the area back among the spares (only once read), up to four */
	struct held h;
	hold(&h);
	int failed = PyList_GET_SIZE(spares) < 4 && PyList_Append(spares, answer) < 0;
	unhold(&h, failed, &res);
	Py_XDECREF(got);
	Py_XDECREF(router);
	Py_XDECREF(msgid);
	Py_XDECREF(plist);
	Py_DECREF(answer);
	Py_DECREF(spares);
	return res;
}

/* send(data) and send(data, one_way=True) of bytes or a bytearray on an
 * active path: the round trip (_round_trip) or the one-way SEND
 * (send_one_way, wait_room at the limit) with no frame of send's own;
 * anything else -- other keywords, other data, a refused SEND that is not
 * the limit -- is send_slow's, which says why. */
static PyObject *path_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
			   PyObject *kwnames)
{
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	int one_way = 0, ok = nargs == 1 && nkw <= 1 && send_slow;
	if (ok && nkw) {
		PyObject *kw = PyTuple_GET_ITEM(kwnames, 0);
		ok = (kw == s_one_way || !PyUnicode_Compare(kw, s_one_way)) &&
		     (args[1] == Py_True || args[1] == Py_False);
		one_way = ok && args[1] == Py_True;
	}
	if (ok)
		ok = PyBytes_CheckExact(args[0]) || PyByteArray_CheckExact(args[0]);
	if (ok && (ok = active(self)) < 0)
		return NULL;
	if (ok && !one_way) {
		PyObject *got = round_trip(self, args[0]);
		if (got != Py_None)
			return got;  /* the reply, or an error */
		Py_DECREF(got);  /* refused: the general path waits and sends again */
		ok = 0;
	}
	PyObject *plist = ok ? PyObject_GetAttr(self, s_oneway) : NULL;
	while (plist) {
		PyObject *completions = PyObject_GetAttr(self, s_completions);
		PyObject *sargs[2] = {plist, args[0]};
		PyObject *rc = completions ? send_one_way(NULL, sargs, 2) : NULL;
		long code = rc && PyLong_CheckExact(rc) ? PyLong_AsLong(rc) : -1;
		Py_XDECREF(rc);
		int go = rc && code == 3 ? active(self) : 0;  /* at the limit: wait for room */
		PyObject *router = go > 0 ? PyObject_GetAttr(self, s_router_attr) : NULL;
		PyObject *r = router ? PyObject_CallMethodObjArgs(router, s_wait_room, self, completions,
								  NULL) : NULL;
		Py_XDECREF(r);
		Py_XDECREF(router);
		Py_XDECREF(completions);
		if (!rc || go < 0 || (go > 0 && !r)) {
			Py_DECREF(plist);
			return NULL;
		}
		if (!code) {
			Py_DECREF(plist);
			Py_RETURN_NONE;
		}
		if (!go) {  /* quiesced, severed, no VM in C: the general path says why */
			Py_DECREF(plist);
			break;
		}
	}
	if (PyErr_Occurred())
		return NULL;
	return pass_on(send_slow, self, args, nargs, kwnames);
}

static PyMethodDef path_send_def = {
	"send", (PyCFunction)(void (*)(void))path_send, METH_FASTCALL | METH_KEYWORDS,
	"send($self, data, *, one_way=False, priority=False, trgcls=0, srccls=0, msgtag=0, "
	"reply_size=None, timeout=None, block=True)\n--\n\n"
	"Send ``data`` (any bytes-like object).  Two-way: returns the\n"
	"reply (bytes).  One-way: returns None once the message is queued.\n"
	"At the path's message limit, or while the partner has it quiesced,\n"
	"waits (up to ``timeout``) -- or with ``block=False`` raises\n"
	"MessageLimitExceeded / PathQuiesced.  Raises MessageRejected,\n"
	"ReplyTruncated (reply longer than ``reply_size``, default\n"
	"DEFAULT_REPLY_SIZE), PathSevered, TimeoutError (the message is\n"
	"then purged)."};

/* send_method(slow): Path.send with its two common cases here, the rest
 * slow's (Path._send_py). */
static PyObject *send_method(PyObject *mod, PyObject *slow)
{
	(void)mod;
	if (!PyCallable_Check(slow)) {
		PyErr_SetString(PyExc_TypeError, "send_method(slow): a callable");
		return NULL;
	}
	Py_XSETREF(send_slow, Py_NewRef(slow));
	return PyDescr_NewMethod(&PyBaseObject_Type, &path_send_def);  /* a Path is a plain class */
}

/* count_completions(counts, paths): the one-way completions take_batch
 * counted (pathid -> how many) added to their paths' _completions, and
 * @counts emptied (router mutex held). */
static PyObject *count_completions(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
		PyErr_SetString(PyExc_TypeError, "count_completions(counts: dict, paths: dict)");
		return NULL;
	}
	PyObject *counts = args[0], *paths = args[1], *key, *n;
	Py_ssize_t pos = 0;
	int rc = 0;
	while (!rc && PyDict_Next(counts, &pos, &key, &n)) {
		PyObject *path = PyDict_GetItemWithError(paths, key);
		if (!path) {
			rc = PyErr_Occurred() ? -1 : 0;
			continue;
		}
		Py_INCREF(path);
		PyObject *old = PyObject_GetAttr(path, s_completions);
		PyObject *sum = old ? PyNumber_Add(old, n) : NULL;
		rc = sum ? PyObject_SetAttr(path, s_completions, sum) : -1;
		Py_XDECREF(sum);
		Py_XDECREF(old);
		Py_DECREF(path);
	}
	PyDict_Clear(counts);
	if (rc < 0)
		return NULL;
	Py_RETURN_NONE;
}

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
	{"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
	 "take(inbox, vm_inbox): the first message of inbox not taken yet, RECEIVEd, or None; "
	 "its other inbox trimmed of taken ones (the router's lock held)."},
	{"file_messages", (PyCFunction)(void (*)(void))file_messages, METH_FASTCALL,
	 "file_messages(batch, inbox, paths, router, msg_class, lone): a batch's message-pending "
	 "interrupts into the inboxes as Messages, the rest through router.dispatch; with lone, "
	 "a lone message while inbox is empty taken and returned instead."},
	{"count_completions", (PyCFunction)(void (*)(void))count_completions, METH_FASTCALL,
	 "count_completions(counts, paths): counted one-way completions added to their paths' "
	 "_completions; counts emptied."},
	{"wait_message", (PyCFunction)(void (*)(void))wait_message, METH_FASTCALL,
	 "wait_message(router, deadline): as the pumper, the next message (router mutex taken "
	 "here); None once another thread pumps."},
	{"wait_reply", (PyCFunction)(void (*)(void))wait_reply, METH_FASTCALL,
	 "wait_reply(router, msgid): as the pumper, message msgid's completion; None once "
	 "another thread pumps."},
	{"send_method", (PyCFunction)send_method, METH_O,
	 "send_method(slow): Path.send with its common cases in C, the rest slow's."},
	{"send_one_way", (PyCFunction)(void (*)(void))send_one_way, METH_FASTCALL,
	 "send_one_way(plist, data): a one-way SEND with the path's own plist in one call: 0, "
	 "IPRCODE, or NotImplemented (the caller's general path)."},
	{"send_two_way", (PyCFunction)(void (*)(void))send_two_way, METH_FASTCALL,
	 "send_two_way(plist, data, answer): a two-way SEND with the path's own plist in one "
	 "call: the message id, -1 - IPRCODE, or NotImplemented (the caller's general path)."},
	{"answer_of", (PyCFunction)(void (*)(void))answer_of, METH_FASTCALL,
	 "answer_of(got, answer): a completion's plain reply as bytes, else None."},
	{"pump", (PyCFunction)(void (*)(void))pump, METH_FASTCALL,
	 "pump(router, deadline): the pumper's core wait with the router's mutex let go; what "
	 "is left to dispatch, in order (router.py)."},
	{"receive_method", (PyCFunction)receive_method, METH_O,
	 "receive_method(slow): VirtualMachine.receive with its common case in C, the rest slow's."},
	{"bind_message", (PyCFunction)(void (*)(void))bind_message, METH_FASTCALL,
	 "bind_message(cls, plist_class, comp_class): the Message class (a MessageCore subclass) "
	 "file_messages and take_batch make, and an 08/09's and an 06/07's parameter-list "
	 "classes; once."},
	{NULL, NULL, 0, NULL},
};

int message_add(PyObject *m)
{
	struct {
		PyObject **s;
		const char *name;
	} names[] = {
		{&s_inbox, "_inbox"}, {&s_receiving, "_receiving"}, {&s_reply_slow, "_reply_slow"},
		{&s_sever_owed, "_sever_owed"}, {&s_settle, "_settle"}, {&s_dispatch, "dispatch"},
		{&s_data_slow, "_data_slow"}, {&s_receive_py, "_receive_py"}, {&s_completions, "_completions"},
		{&s_router, "_router"}, {&s_vm_inbox, "inbox"}, {&s_mutex, "mutex"},
		{&s_wait_message, "wait_message"},
		{&s_pumping, "pumping"}, {&s_events, "events"}, {&s_watchers, "watchers"},
		{&s_vm, "vm"}, {&s_counts, "counts"}, {&s_sleepers, "sleepers"}, {&s_cond, "cond"},
		{&s_notify_all, "notify_all"}, {&s_take_rest, "_take_rest"}, {&s_paths, "paths"},
		{&s_completed, "completed"}, {&s_fg_waits, "fg_waits"}, {&s_file, "_file"},
		{&s_state, "_state"}, {&s_active, "active"}, {&s_oneway, "_oneway"},
		{&s_round_trip, "_round_trip"}, {&s_wait_room, "wait_room"}, {&s_one_way, "one_way"},
		{&s_router_attr, "_router"}, {&s_spares, "_spares"}, {&s_twoway, "_twoway"},
		{&s_wait_reply, "wait_reply"}, {&s_outcome, "_outcome"},
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!(*names[i].s = PyUnicode_InternFromString(names[i].name)))
			return -1;
	PyObject *collections = PyImport_ImportModule("collections");
	PyObject *deque = collections ? PyObject_GetAttrString(collections, "deque") : NULL;
	Py_XDECREF(collections);
	if (!deque)
		return -1;
	deque_popleft = PyObject_GetAttrString(deque, "popleft");
	deque_append = deque_popleft ? PyObject_GetAttrString(deque, "append") : NULL;
	Py_DECREF(deque);
	if (!deque_append)
		return -1;
	PyObject *thread = PyImport_ImportModule("_thread");
	PyObject *lock = thread ? PyObject_GetAttrString(thread, "LockType") : NULL;
	Py_XDECREF(thread);
	if (!lock)
		return -1;
	lock_acquire = PyObject_GetAttrString(lock, "acquire");
	lock_release = lock_acquire ? PyObject_GetAttrString(lock, "release") : NULL;
	Py_DECREF(lock);
	if (!lock_release)
		return -1;
	if (!(one = PyLong_FromLong(1)))
		return -1;
	if (!(iucv_send_fn = PyObject_GetAttrString(m, "send")) ||  /* iucvcall.c's */
	    !(iucv_reply_fn = PyObject_GetAttrString(m, "reply")))
		return -1;
	if (PyType_Ready(&MessageCoreType) < 0 ||
	    PyModule_AddObjectRef(m, "MessageCore", (PyObject *)&MessageCoreType) < 0)
		return -1;
	return PyModule_AddFunctions(m, message_methods);
}
