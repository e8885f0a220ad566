/*
 * Path.send's common cases in C (shmcp/pythonic/path.py): bytes or a
 * bytearray on an active path, one-way or a round trip, with the path's
 * own parameter lists and no Python frame of send's own; anything else is
 * Path._send_py's.
 */
#include "pythonic.h"

static PyObject *s_state, *s_active, *s_oneway, *s_round_trip, *s_wait_room, *s_one_way,
	*s_spares, *s_twoway, *s_wait_reply, *s_outcome;
static PyObject *send_slow;  /* Path._send_py: send in Python, every case */

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
	PyObject *cc = iucv_send(args[0]);
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
	PyObject *cc = iucv_send(args[0]);
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

/* -- path.send's common cases as a method (path.py's Path.send) ---------- */

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
	int settled = 0;  /* the area is nobody's answer area any more */
	if (!msgid)
		goto done;
	if (!PyLong_CheckExact(msgid) || PyLong_AsLong(msgid) < 0) {  /* refused, or no VM in C */
		res = Py_NewRef(Py_None);
		settled = 1;
		goto done;
	}
	if (!(router = PyObject_GetAttr(self, s_router)))
		goto done;
	got = pumper_wait(router, FOR_REPLY, msgid, Py_None, self);
	if (got == Py_None) {  /* another thread pumps (or this end severed): follow it */
		Py_DECREF(got);
		got = PyObject_CallMethodObjArgs(router, s_wait_reply, msgid, self, NULL);
	}
	if (got) {
		settled = 1;
		PyObject *aargs[2] = {got, answer};
		res = answer_of(NULL, aargs, 2);
		if (res == Py_None) {
			Py_DECREF(res);
			res = PyObject_CallMethodObjArgs(self, s_outcome, got, answer, NULL);
		}
	}
done:;  /* the area back among the spares (only once read), up to four; not
	 * while its message may still be answered (the wait or the SEND
	 * raised, e.g. Ctrl-C): its reply would land in another send's area */
	struct held h;
	hold(&h);
	int failed = settled && PyList_GET_SIZE(spares) < 4 && PyList_Append(spares, answer) < 0;
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
		PyObject *router = go > 0 ? PyObject_GetAttr(self, s_router) : NULL;
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

static PyMethodDef pathsend_methods[] = {
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
	{NULL, NULL, 0, NULL},
};

int pathsend_add(PyObject *m)
{
	static const struct interned names[] = {
		{&s_state, "_state"}, {&s_active, "active"}, {&s_oneway, "_oneway"},
		{&s_round_trip, "_round_trip"}, {&s_wait_room, "wait_room"}, {&s_one_way, "one_way"},
		{&s_spares, "_spares"}, {&s_twoway, "_twoway"}, {&s_wait_reply, "wait_reply"},
		{&s_outcome, "_outcome"},
	};
	if (intern_names(names, sizeof names / sizeof *names) < 0)
		return -1;
	return PyModule_AddFunctions(m, pathsend_methods);
}
