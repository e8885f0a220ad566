/*
 * The router's pumper in C (shmcp/pythonic/router.py): the core wait with
 * the router's mutex let go (pump), and a pumper's wait for one thing --
 * the next message (wait_message), a two-way message's completion
 * (wait_reply) -- each pumping until it comes.  A thread that finds
 * another pumping gets None and follows it in Python (router.wait_until).
 */
#include "pythonic.h"
#include <math.h>
#include <time.h>

static PyObject *s_pumping, *s_events, *s_watchers, *s_vm, *s_counts, *s_sleepers, *s_cond,
	*s_notify_all, *s_take_rest, *s_paths, *s_completed, *s_fg_waits, *s_file, *s_severed_here,
	*one;

PyObject *lock_acquire, *lock_release, *lock_locked;

/* @mutex.acquire() or .release() (@how: lock_acquire, lock_release): 0,
 * or -1 with an exception. */
int lock_call(PyObject *how, PyObject *mutex)
{
	PyObject *r = PyObject_Vectorcall(how, &mutex, 1, NULL);
	Py_XDECREF(r);
	return r ? 0 : -1;
}

/* @n completions added to the _completions of the path @key names in
 * @paths (router.paths; none there: nothing to count): 0, or -1 with an
 * exception. */
static int add_completions(PyObject *paths, PyObject *key, PyObject *n)
{
	PyObject *path = PyDict_GetItemWithError(paths, key);
	if (!path)
		return PyErr_Occurred() ? -1 : 0;
	Py_INCREF(path);
	PyObject *old = PyObject_GetAttr(path, s_completions);
	PyObject *sum = old ? PyNumber_Add(old, n) : NULL;
	int rc = sum ? PyObject_SetAttr(path, s_completions, sum) : -1;
	Py_XDECREF(sum);
	Py_XDECREF(old);
	Py_DECREF(path);
	return rc;
}

/* The one-way completions take_batch counted in @counts (pathid -> how
 * many) added to their paths' _completions (@paths: router.paths), and
 * @counts emptied (router mutex held): 0, or -1 with an exception. */
static int count_completions(PyObject *counts, PyObject *paths)
{
	if (!PyDict_CheckExact(counts) || !PyDict_CheckExact(paths)) {
		PyErr_SetString(PyExc_TypeError, "router.counts and router.paths must be dicts");
		return -1;
	}
	PyObject *key, *n;
	Py_ssize_t pos = 0;
	int rc = 0;
	while (!rc && PyDict_Next(counts, &pos, &key, &n))
		rc = add_completions(paths, key, n);
	PyDict_Clear(counts);
	return rc;
}

/* -- The pumper's core wait (router.py's pump) --------------------------- */

/* Seconds left beyond which a wait has no limit (about 31.7 years; the
 * module's LONGEST_WAIT, which _native.LONGEST_TIMEOUT is): their ns would
 * not fit the core's int64_t. */
#define LONGEST_WAIT 1e9

/* The core wait's timeout in ns for the monotonic @deadline (None, or
 * more than LONGEST_WAIT away: -1, none; -2 with an exception if
 * @deadline is not a number, or NaN). */
static int64_t timeout_of(PyObject *deadline)
{
	if (deadline == Py_None)
		return -1;
	double at = PyFloat_AsDouble(deadline);
	if (at == -1.0 && PyErr_Occurred())
		return -2;
	if (isnan(at)) {
		PyErr_SetString(PyExc_ValueError, "the wait's deadline is NaN");
		return -2;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);  /* time.monotonic()'s clock */
	double left = at - ((double)ts.tv_sec + ts.tv_nsec * 1e-9);
	if (left > LONGEST_WAIT)  /* (+inf too) */
		return -1;
	return left > 0 ? (int64_t)(left * 1e9) : 0;
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

/* Each of @router's watchers called (router mutex held): one-way
 * completions taken unwatched, counted on their paths without a dispatch,
 * when a watcher came during the wait (an asyncio loop's first use: a
 * coroutine waiting for room under the message limit).  0, or -1 with an
 * exception. */
static int wake_watchers(PyObject *router)
{
	PyObject *watchers = PyObject_GetAttr(router, s_watchers);
	PyObject *now = watchers ? PySequence_List(watchers) : NULL;  /* (a watcher may change it) */
	Py_XDECREF(watchers);
	if (!now)
		return -1;
	int rc = 0;
	for (Py_ssize_t i = 0; !rc && i < PyList_GET_SIZE(now); i++) {
		PyObject *r = PyObject_CallNoArgs(PyList_GET_ITEM(now, i));
		rc = r ? 0 : -1;
		Py_XDECREF(r);
	}
	Py_DECREF(now);
	return rc;
}

/* The batch the core wait takes with @router's mutex let go: take_batch's
 * (one-way completions counted in @counts, router.counts), what it leaves
 * to wait()'s Python path finished by router._take_rest. */
static PyObject *pump_take(PyObject *router, PyObject *counts, PyObject *deadline, int fast)
{
	PyObject *batch = Py_NewRef(Py_NotImplemented);
	if (fast) {
		PyObject *vm = PyObject_GetAttr(router, s_vm);
		int64_t timeout_ns = vm ? timeout_of(deadline) : -2;
		PyObject *targs[4] = {vm, NULL, counts, (PyObject *)message_type};
		targs[1] = timeout_ns == -2 ? NULL : PyLong_FromLongLong(timeout_ns);
		Py_DECREF(batch);
		batch = targs[1] ? take_batch(NULL, targs, message_type ? 4 : 3) : NULL;
		Py_XDECREF(targs[1]);
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
	int fast = unwatched(router);  /* else each completion is an event */
	PyObject *mutex = fast < 0 ? NULL : PyObject_GetAttr(router, s_mutex);
	PyObject *counts = mutex ? PyObject_GetAttr(router, s_counts) : NULL;
	if (!counts || PyObject_SetAttr(router, s_pumping, Py_True) < 0) {
		Py_XDECREF(counts);
		Py_XDECREF(mutex);
		return NULL;
	}
	PyObject *batch = NULL, *r;
	if (lock_call(lock_release, mutex) == 0) {
		batch = pump_take(router, counts, deadline, fast);
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
	if (batch && PyDict_Check(counts) && PyDict_GET_SIZE(counts)) {
		PyObject *paths = PyObject_GetAttr(router, s_paths);
		if (!paths || count_completions(counts, paths) < 0)
			Py_CLEAR(batch);
		Py_XDECREF(paths);
		/* watched now, not when the wait began: the watchers see them */
		int now = batch && fast > 0 ? unwatched(router) : 1;
		if (now < 0 || (!now && wake_watchers(router) < 0))
			Py_CLEAR(batch);
	}
	Py_DECREF(counts);
	return batch;
}

/* -- A pumper's wait for one thing (router.py's wait_message, wait_reply) -- */


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

/* @batch's lone item if it is the completion of message @msgid (an
 * 06/07's parameter list), its path (in @paths, router.paths) given the
 * completion; else NULL (and no exception) -- or NULL with one. */
static PyObject *own_completion(PyObject *paths, PyObject *batch, PyObject *msgid)
{
	if (PyList_GET_SIZE(batch) != 1 || Py_TYPE(PyList_GET_ITEM(batch, 0)) != comp_type)
		return NULL;
	PyObject *got = PyList_GET_ITEM(batch, 0);
	uint8_t *image = image_of(got);
	if (!image)
		return NULL;
	if (PyLong_AsUnsignedLong(msgid) != (unsigned long)be_get(image + SHMCP_IP_MSGID, 4))
		return NULL;  /* (no error: msgid came from send_two_way or SEND) */
	if (!PyDict_Check(paths))
		return NULL;  /* (no error: the general path's, router._file) */
	PyObject *key = PyLong_FromLong((long)be_get(image + SHMCP_IP_PATHID, 2));
	int rc = key ? add_completions(paths, key, one) : -1;
	Py_XDECREF(key);
	return rc < 0 ? NULL : Py_NewRef(got);
}

/* Whether this end severed @path (its _severed_here; NULL: no path): 1,
 * 0, or -1 with an exception. */
static int severed_here(PyObject *path)
{
	if (!path)
		return 0;
	PyObject *flag = PyObject_GetAttr(path, s_severed_here);
	int yes = flag ? PyObject_IsTrue(flag) : -1;
	Py_XDECREF(flag);
	return yes;
}

/* As the pumper, @router's mutex taken here: the next message (FOR_MESSAGE,
 * up to the monotonic @deadline or None: TimeoutError) or the completion
 * of message @msgid on @path (FOR_REPLY), pumping meanwhile; None once
 * another thread pumps, or once this end severed @path (no completion
 * comes then): the caller then waits in Python (wait_until), which says
 * so. */
PyObject *pumper_wait(PyObject *router, int mode, PyObject *msgid, PyObject *deadline,
		      PyObject *path)
{
	PyObject *box = PyObject_GetAttr(router, mode == FOR_MESSAGE ? s_vm_inbox : s_completed);
	PyObject *mutex = box ? PyObject_GetAttr(router, s_mutex) : NULL;
	PyObject *paths = mutex ? PyObject_GetAttr(router, s_paths) : NULL;
	PyObject *res = NULL, *r;
	int looked = 0;
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
			if (!left && looked) {  /* a deadline already past: one look */
				PyErr_SetString(PyExc_TimeoutError, "timed out");
				break;
			}
			looked = 1;
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
			int gone = severed_here(path);  /* its SEVER woke this wait */
			if (gone) {
				res = gone > 0 ? Py_NewRef(Py_None) : NULL;
				break;
			}
		}
		PyObject *pargs[2] = {router, deadline};
		PyObject *batch = pump(NULL, pargs, 2);
		int fast = batch ? unwatched(router) : -1;
		if (fast > 0 && mode == FOR_MESSAGE) {  /* a lone 08/09 while the inbox is empty */
			receive_ahead(batch);  /* the batch's one-way messages RECEIVEd at once */
			PyObject *fargs[6] = {batch, box, paths, router, (PyObject *)plist_type, Py_True};
			res = file_messages(NULL, fargs, 6);
			Py_DECREF(batch);
			if (res != Py_None)
				break;  /* that message, or an error */
			Py_CLEAR(res);
			continue;
		} else if (fast > 0) {  /* its own completion, alone: kept, not dispatched */
			res = own_completion(paths, batch, msgid);
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
	return pumper_wait(args[0], FOR_MESSAGE, NULL, args[1], NULL);
}

/* wait_reply(router, msgid, path): pumper_wait FOR_REPLY. */
static PyObject *wait_reply(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 3 || !PyLong_CheckExact(args[1])) {
		PyErr_SetString(PyExc_TypeError, "wait_reply(router, msgid: int, path)");
		return NULL;
	}
	return pumper_wait(args[0], FOR_REPLY, args[1], Py_None, args[2]);
}

static PyMethodDef pumper_methods[] = {
	{"wait_message", (PyCFunction)(void (*)(void))wait_message, METH_FASTCALL,
	 "wait_message(router, deadline): as the pumper, the next message (router mutex taken "
	 "here); None once another thread pumps."},
	{"wait_reply", (PyCFunction)(void (*)(void))wait_reply, METH_FASTCALL,
	 "wait_reply(router, msgid, path): as the pumper, message msgid's completion; None once "
	 "another thread pumps, or this end severed path."},
	{"pump", (PyCFunction)(void (*)(void))pump, METH_FASTCALL,
	 "pump(router, deadline): the pumper's core wait with the router's mutex let go; what "
	 "is left to dispatch, in order (router.py)."},
	{NULL, NULL, 0, NULL},
};

int pumper_add(PyObject *m)
{
	static const struct interned names[] = {
		{&s_pumping, "pumping"}, {&s_events, "events"}, {&s_watchers, "watchers"},
		{&s_vm, "vm"}, {&s_counts, "counts"}, {&s_sleepers, "sleepers"}, {&s_cond, "cond"},
		{&s_notify_all, "notify_all"}, {&s_take_rest, "_take_rest"}, {&s_paths, "paths"},
		{&s_completed, "completed"}, {&s_fg_waits, "fg_waits"}, {&s_file, "_file"},
		{&s_severed_here, "_severed_here"},
	};
	static const struct interned lock_methods[] = {
		{&lock_acquire, "acquire"}, {&lock_release, "release"}, {&lock_locked, "locked"},
	};
	if (intern_names(names, sizeof names / sizeof *names) < 0 ||
	    unbound_methods("_thread", "LockType", lock_methods,
			    sizeof lock_methods / sizeof *lock_methods) < 0)
		return -1;
	if (!(one = PyLong_FromLong(1)))
		return -1;
	PyObject *longest = PyFloat_FromDouble(LONGEST_WAIT);
	int rc = longest ? PyModule_AddObjectRef(m, "LONGEST_WAIT", longest) : -1;
	Py_XDECREF(longest);
	if (rc < 0)
		return -1;
	return PyModule_AddFunctions(m, pumper_methods);
}
