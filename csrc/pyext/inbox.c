/*
 * The router's inboxes (shmcp/pythonic/router.py), the two steps every
 * message makes through them: filed when its message-pending interrupt is
 * taken (file_messages), taken out, RECEIVEd, by a receive (take).
 *
 * A one-way stream pays these once per message at the receiver; in Python
 * they were two deque appends and the take's loop and checks.  The inboxes
 * stay the router's two collections.deque (every path's, and each path's
 * own), so everything else of the layer sees them as before.  A path's own
 * inbox is filed only once the program receives from that path
 * (Path._receive_here): a program that takes everything by vm.receive files
 * each message once.  Both run with the router's lock held by the caller,
 * and the GIL throughout (RECEIVE never waits).
 */
#include "pythonic.h"

static PyObject *s_inbox, *s_receiving, *s_sever_owed, *s_settle, *s_dispatch;

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

/* Message @m, just taken, RECEIVEd and then the SEVER its path owes
 * settled: 1, 0 if it is gone (purged, its path severed), -1 with an
 * exception.  A RECEIVE that raised (a corrupt segment) took the message
 * all the same: the SEVER is settled then too, in a finally. */
static int receive_taken(MessageObject *m)
{
	PyObject *path = Py_NewRef(m->path ? m->path : Py_None);
	int got = fetch(m);
	if (path != Py_None) {
		struct held h;
		PyObject *none = NULL;  /* (the try's outcome is got) */
		hold(&h);
		int failed = settle(m->router, path) < 0;
		unhold(&h, failed, &none);
		if (failed)
			got = -1;
	}
	Py_DECREF(path);
	return got;
}

/* take(inbox, vm_inbox): the first message of @inbox not taken yet,
 * RECEIVEd, or None; the other inbox it sits in (its path's, or the VM's
 * @vm_inbox) trimmed of taken ones (router mutex held).  take_from is
 * the same for the other files (pythonic.h). */
static PyObject *take(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "take(inbox, vm_inbox)");
		return NULL;
	}
	return take_from(args[0], args[1]);
}

PyObject *take_from(PyObject *inbox, PyObject *vm_inbox)
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
		int rc = 0;
		if (inbox != vm_inbox || m->in_path) {
			PyObject *own = inbox == vm_inbox ? PyObject_GetAttr(m->path, s_inbox)
							  : Py_NewRef(vm_inbox);
			rc = own ? trim(own) : -1;
			Py_XDECREF(own);
		}
		int got = rc < 0 ? -1 : receive_taken(m);
		if (got > 0)
			return o;
		Py_DECREF(o);
		if (got < 0)
			return NULL;
	}
}

/* take_ready: vm.receive's step for the head of @inbox when it was
 * RECEIVEd ahead (receive_ahead) and needs nothing else done -- no other
 * inbox to trim, no SEVER owed on its path -- taken while nobody holds
 * @mutex (router.mutex), without taking it: the GIL, held throughout and
 * never let go here, keeps out every thread, and one holding the mutex
 * could be part way through the inbox.  A new reference, or NULL: the
 * locked take's to do (with an exception if one was raised). */
PyObject *take_ready(PyObject *inbox, PyObject *mutex)
{
#ifdef Py_GIL_DISABLED
	(void)inbox;
	(void)mutex;
	return NULL;  /* no GIL to keep the others out */
#else
	PyObject *head = PySequence_GetItem(inbox, 0);
	if (!head)
		return NULL;
	MessageObject *m = (MessageObject *)head;
	int ready = is_message(head) && !m->taken && !m->in_path && m->data &&
		    PyBytes_CheckExact(m->data);
	if (ready && m->path && m->path != Py_None) {
		PyObject *owed = PyObject_GetAttr(m->path, s_sever_owed);
		ready = owed == Py_False;
		Py_XDECREF(owed);
	}
	if (ready) {
		PyObject *held = PyObject_Vectorcall(lock_locked, &mutex, 1, NULL);
		ready = held == Py_False;
		Py_XDECREF(held);
	}
	PyObject *o = ready && !PyErr_Occurred() ? popleft(inbox) : NULL;
	Py_DECREF(head);
	if (o != head) {  /* (nobody else could have changed the head) */
		Py_XDECREF(o);
		return NULL;
	}
	m->taken = 1;
	return o;
#endif
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

/* The Path in @paths (router.paths) of the message whose image is
 * @image: borrowed, Py_None if it has none there, NULL with an
 * exception. */
static PyObject *path_of(PyObject *paths, const uint8_t *image)
{
	PyObject *key = PyLong_FromLong((long)be_get(image + SHMCP_IP_PATHID, 2));
	if (!key)
		return NULL;
	PyObject *path = PyDict_GetItemWithError(paths, key);
	Py_DECREF(key);
	return path || PyErr_Occurred() ? path : Py_None;
}

/* A lone message taken by the pumper that waits for one (router.py's
 * wait_message): taken at once, RECEIVEd; None if it is gone meanwhile
 * (purged, its path severed). */
static PyObject *take_lone(PyObject *got, int kind, const uint8_t *image, PyObject *paths,
			   PyObject *router)
{
	PyObject *path = path_of(paths, image);
	PyObject *o = path ? message_for(got, kind, image, path, router) : NULL;
	if (!o)
		return NULL;
	MessageObject *m = (MessageObject *)o;
	m->taken = 1;
	int fetched = receive_taken(m);
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
PyObject *file_messages(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
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
			if (!(path = path_of(paths, image)))
				goto done;
			Py_INCREF(path);
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

static PyMethodDef inbox_methods[] = {
	{"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
	 "take(inbox, vm_inbox): the first message of inbox not taken yet, RECEIVEd, or None; "
	 "its other inbox trimmed of taken ones (the router's lock held)."},
	{"file_messages", (PyCFunction)(void (*)(void))file_messages, METH_FASTCALL,
	 "file_messages(batch, inbox, paths, router, msg_class, lone): a batch's message-pending "
	 "interrupts into the inboxes as Messages, the rest through router.dispatch; with lone, "
	 "a lone message while inbox is empty taken and returned instead."},
	{NULL, NULL, 0, NULL},
};

int inbox_add(PyObject *m)
{
	static const struct interned names[] = {
		{&s_inbox, "_inbox"}, {&s_receiving, "_receiving"}, {&s_sever_owed, "_sever_owed"},
		{&s_settle, "_settle"}, {&s_dispatch, "dispatch"},
	};
	static const struct interned deque_methods[] = {
		{&deque_popleft, "popleft"}, {&deque_append, "append"},
	};
	if (intern_names(names, sizeof names / sizeof *names) < 0 ||
	    unbound_methods("collections", "deque", deque_methods,
			    sizeof deque_methods / sizeof *deque_methods) < 0)
		return -1;
	return PyModule_AddFunctions(m, inbox_methods);
}
