/*
 * shmcp._iparml's calls: IUCV SEND, RECEIVE and REPLY in their common case,
 * and wait()'s core call, which shows a message interrupt the core presented
 * as its parameter list.
 *
 * Each of these runs on every message; in Python, finding the VM and the
 * buffers, passing seven or eight arguments through cffi and building the
 * interrupt's parameter list cost about as much as the core's call itself.
 * Here they are shmcp.iucv's send, receive and reply themselves: they take
 * what a message program passes -- a parameter list whose buffers are bytes
 * (data going out) or bytearray, at least as long as their length fields
 * say -- and call the core directly for the VM this process is logged on
 * as (machine.c).  Anything else (no VM, a memoryview, a short buffer, an
 * IUCV state not made yet) they hand, before doing anything, to the Python
 * path shmcp/iucv.py binds (bind_iucv), which makes every check and message
 * of its own.  The core's calls reach them once, from shmcp/_native.py
 * (bind_core).
 *
 * SEND, RECEIVE and REPLY keep the GIL through the core's call (under a
 * microsecond; they never wait for another VM), so no other thread can
 * resize a bytearray while the core reads or writes it; a wait lets it go,
 * since it may sleep.  SEND's answer area is written later, when
 * the message-complete interrupt is presented: it is kept exported (a
 * memoryview in the IUCV state's answers, by message id) until then, as the
 * Python path keeps its cffi view.
 */
#include <sched.h>
#include <time.h>

#include "machine.h"
#include "vmcfcall.h"
#include "message.h"
#include "../include/shmcp_vmcf.h"

#define IP_TYPE SHMCP_IP_RCODE  /* an interrupt's IPTYPE is in IPRCODE's byte */

typedef __typeof__(shmcp_iucv_call) iucv_call_fn;

typedef __typeof__(shmcp_next) next_fn;
typedef __typeof__(shmcp_wait) wait_fn;
typedef __typeof__(shmcp_leave) leave_fn;

static iucv_call_fn *core_call;  /* shmcp_iucv_call in the cffi module */
static next_fn *core_next;       /* shmcp_next */
static wait_fn *core_wait_only;  /* shmcp_wait */
static leave_fn *core_let_go;    /* shmcp_leave */
static PyObject *by_type;        /* the parameter-list class per IPTYPE (a tuple) */
static PyObject *failed;         /* iucv.py's failed(vm, func, rc): raises the core's error */
static PyObject *python_path[3]; /* iucv.py's send, receive, reply in Python: (plist) -> cc */
static PyObject *image_slice;    /* [:SHMCP_IUCV_BUFFER_SIZE] */

/* A thread goes into (enter, the GIL held) or comes out of (leave, the
 * GIL let go) a core wait of @vm: core_leave waits for the count to be 0. */
static inline void inside_enter(Machine *vm)
{
	__atomic_add_fetch(&vm->inside, 1, __ATOMIC_RELAXED);
}
static inline void inside_leave(Machine *vm)
{
	__atomic_sub_fetch(&vm->inside, 1, __ATOMIC_RELEASE);
}

/* shmcp_next for @vm that may sleep: the GIL let go meanwhile (the
 * process's other threads run), the thread counted inside (core_leave). */
static int next_released(Machine *vm, uint32_t fmask, uint32_t types, int64_t timeout_ns,
			 struct shmcp_record *rec)
{
	shmcp_sys *h = vm->h;
	int32_t slot = vm->slot;
	uint32_t gen = vm->gen;
	int64_t spin_ns = vm->spin_ns;
	int rc;
	inside_enter(vm);
	Py_BEGIN_ALLOW_THREADS
	rc = core_next(h, slot, gen, (int)fmask, types, timeout_ns, spin_ns, rec);
	inside_leave(vm);
	Py_END_ALLOW_THREADS
	return rc;
}

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

/* One call's VM (the current one: its ids copied) and parameter list. */
struct call {
	Machine *vm;
	shmcp_sys *h;
	int32_t slot;
	uint32_t gen;
	Image *p;
	uint8_t *image;
};

enum { PY_SEND, PY_RECEIVE, PY_REPLY };

/* 1: @c is ready for the core; 0: the call is the Python path's. */
static int call_of(PyObject *plist, struct call *c)
{
	Machine *vm = current_vm;
	if (!core_call || !vm || !vm->logged_on || !is_image(plist))
		return 0;
	c->image = image_of(plist);
	if (!c->image) {  /* _b replaced by something else: the Python path's */
		PyErr_Clear();
		return 0;
	}
	c->vm = vm;
	c->h = vm->h;
	c->slot = vm->slot;
	c->gen = vm->gen;
	c->p = (Image *)plist;
	return 1;
}

/* The call done by shmcp/iucv.py's Python path. */
static PyObject *python(int which, PyObject *plist)
{
	if (!python_path[which]) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml is not bound to shmcp.iucv (bind_iucv)");
		return NULL;
	}
	return PyObject_CallOneArg(python_path[which], plist);
}

/* A call's condition code, or the exception iucv.py's failed raises for the
 * core's error @cc < 0. */
static PyObject *outcome(PyObject *vm, int func, int cc)
{
	return core_outcome(failed, vm, func, cc, "IUCV function");
}

/* send(plist): SEND's condition code (the core's error raised).  The
 * module's send, and the Pythonic layer's per-message sends (pathsend.c)
 * without a Python call. */
PyObject *iucv_send(PyObject *plist)
{
	struct call c;
	if (!call_of(plist, &c))
		return python(PY_SEND, plist);
	const uint8_t *image = c.image;
	Image *p = c.p;
	uint8_t flags = image[SHMCP_IP_FLAGS1];
	uint8_t *in = NULL, *answer = NULL;
	if (!(flags & SHMCP_IPRMDATA) && !address(p->bf1, word(image, SHMCP_IP_BFLN1F), 0, &in))
		return python(PY_SEND, plist);
	PyObject *answers = NULL, *keep = NULL;
	if (!(flags & SHMCP_IPNORPY)) {
		if (!address(p->bf2, word(image, SHMCP_IP_BFLN2F), 1, &answer))
			return python(PY_SEND, plist);
		if (answer) {
			answers = c.vm->answers;
			if (!answers || !PyDict_CheckExact(answers))
				return python(PY_SEND, plist);  /* no IUCV state yet: Python makes it */
			Py_INCREF(answers);
			keep = PyMemoryView_FromObject(p->bf2);  /* holds the export */
			if (!keep) {
				Py_DECREF(answers);
				return NULL;
			}
		}
	}
	/* The message id is the call's, so the record comes after it; with
	 * the GIL held throughout, no completion can be presented (that needs
	 * the GIL: note_presented, TEST COMPLETION) between the two. */
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
	return outcome((PyObject *)c.vm, SHMCP_IUCV_SEND, cc);
}

/* receive(plist): RECEIVE into bf1. */
static PyObject *iucv_receive(PyObject *plist)
{
	struct call c;
	uint8_t *out;
	if (!call_of(plist, &c) || !address(c.p->bf1, word(c.image, SHMCP_IP_BFLN1F), 1, &out))
		return python(PY_RECEIVE, plist);
	return outcome((PyObject *)c.vm, SHMCP_IUCV_RECEIVE,
		       core_call(c.h, c.slot, c.gen, SHMCP_IUCV_RECEIVE, c.image, NULL, out));
}

/* reply(plist): REPLY with bf2 (or the parameter-list data).  The
 * module's reply, and Message.reply's (message.c) without a Python call. */
PyObject *iucv_reply(PyObject *plist)
{
	struct call c;
	uint8_t *in = NULL;
	if (!call_of(plist, &c) || (!(c.image[SHMCP_IP_FLAGS1] & SHMCP_IPRMDATA) &&
				    !address(c.p->bf2, word(c.image, SHMCP_IP_BFLN2F), 0, &in)))
		return python(PY_REPLY, plist);
	return outcome((PyObject *)c.vm, SHMCP_IUCV_REPLY,
		       core_call(c.h, c.slot, c.gen, SHMCP_IUCV_REPLY, c.image, in, NULL));
}

/* send, receive and reply take the parameter list by position or as plist=,
 * as the Python functions did. */
#define PLIST_CALL(fn)                                                                      \
	static PyObject *fn##_call(PyObject *mod, PyObject *const *args, Py_ssize_t nargs,  \
				   PyObject *kwnames)                                       \
	{                                                                                   \
		(void)mod;                                                                  \
		PyObject *plist = NULL;                                                     \
		int given = one_arg(#fn, "plist", args, nargs, kwnames, &plist);            \
		if (!given && !PyErr_Occurred())                                            \
			PyErr_SetString(PyExc_TypeError, #fn "() takes a parameter list");  \
		return given > 0 ? iucv_##fn(plist) : NULL;                                 \
	}
PLIST_CALL(send)
PLIST_CALL(receive)
PLIST_CALL(reply)

int answer_done(Machine *vm, uint32_t msgid)
{
	PyObject *answers = vm->answers;
	int sending = vm->sending && PyList_GET_SIZE(vm->sending);
	/* a one-way message never had an answer area: look before deleting
	 * (a KeyError made and cleared costs ~0.1 us) */
	if (!answers || !PyDict_CheckExact(answers) || (!PyDict_GET_SIZE(answers) && !sending))
		return 0;
	PyObject *key = PyLong_FromUnsignedLong(msgid);
	if (!key)
		return -1;
	int rc = 0;
	if (PyDict_GetItemWithError(answers, key))
		rc = PyDict_DelItem(answers, key);
	else if (PyErr_Occurred())
		rc = -1;
	else if (sending) {  /* perhaps that SEND's own: it must not record it */
		if (!vm->answered && !(vm->answered = PySet_New(NULL)))
			rc = -1;
		else
			rc = PySet_Add(vm->answered, key);
	}
	Py_DECREF(key);
	return rc;
}

/* What IUCV keeps in the VM's process when a message interrupt is
 * presented: a completion's answer area is no longer the core's to write,
 * and the interrupt goes into the declared buffer.  Both of wait()'s paths
 * use it (Python's through presented()). */
int note_presented(Machine *vm, const uint8_t *image)
{
	PyObject *buffer = vm->buffer;
	if (image[IP_TYPE] >= SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE &&   /* 06, 07 */
	    image[IP_TYPE] < SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING &&
	    answer_done(vm, word(image, SHMCP_IP_MSGID)) < 0)
		return -1;
	if (buffer && buffer != Py_None) {
		PyObject *copy = PyBytes_FromStringAndSize((const char *)image, IMAGE_LEN);
		int ok = copy && PyObject_SetItem(buffer, image_slice, copy) == 0;
		Py_XDECREF(copy);
		if (!ok)
			return -1;
	}
	return 0;
}

static PyObject *shown_of(Machine *vm, int rc, const struct shmcp_record *rec, int show);

PyObject *core_sleep(Machine *vm, uint32_t fmask, int64_t timeout_ns)
{
	if (!core_wait_only) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml is not bound to the core (bind_core)");
		return NULL;
	}
	if (!vm->logged_on)
		return PyLong_FromLong(SHMCP_E_NOTLOGGED);
	shmcp_sys *h = vm->h;
	int32_t slot = vm->slot;
	uint32_t gen = vm->gen;
	int64_t spin_ns = vm->spin_ns;
	int rc;
	inside_enter(vm);
	Py_BEGIN_ALLOW_THREADS
	rc = core_wait_only(h, slot, gen, (int)fmask, timeout_ns, spin_ns);
	inside_leave(vm);
	Py_END_ALLOW_THREADS
	return PyLong_FromLong(rc);
}

int core_leave(Machine *vm)
{
	if (!vm->logged_on)
		return 0;
	vm->logged_on = 0;  /* with the GIL: no thread counts itself in from here */
	if (!__atomic_load_n(&vm->inside, __ATOMIC_ACQUIRE))
		return 1;
	/* the ones inside come out without the GIL; this keeps it, so no
	 * other thread can start a call on the mapping meanwhile.  A main
	 * thread in sigtimedwait is rung by a signal; each ring is repeated
	 * in case a thread was between its count and its first look */
	for (unsigned n = 0; __atomic_load_n(&vm->inside, __ATOMIC_ACQUIRE); n++) {
		if (n % 2000 == 0)  /* ~every 0.1-0.2 s */
			core_let_go(vm->h, vm->slot, vm->gen);
		if (n < 100) {
			sched_yield();
		} else {
			struct timespec ts = {0, 50000};
			nanosleep(&ts, NULL);
		}
	}
	return 1;
}

PyObject *core_wait(Machine *vm, uint32_t fmask, int64_t present, int64_t timeout_ns, int show)
{
	if (!core_next) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml is not bound to the core (bind_core)");
		return NULL;
	}
	if (!vm->logged_on)  /* the caller says so */
		return PyLong_FromLong(SHMCP_E_NOTLOGGED);
	shmcp_sys *h = vm->h;
	int32_t slot = vm->slot;
	uint32_t gen = vm->gen;
	uint32_t types = present < 0 ? vm->present_types : (uint32_t)present;  /* SET MASK changes it */
	if (show)  /* VMCF's tag-only interrupts too: shown in Python, presented here */
		types |= SHMCP_VMCF_PRESENT_BIT;
	struct shmcp_record rec;  /* this call's own */
	/* What is queued already is taken with the GIL held, as SEND takes
	 * it (under a microsecond, no sleep): a busy receiver finds its next
	 * interrupt queued, and letting the GIL go and taking it back cost
	 * more than the take.  Only a wait that may sleep lets it go. */
	int rc = core_next(h, slot, gen, (int)fmask, types, 0, 0, &rec);
	if (rc == SHMCP_WAIT_TIMEOUT && timeout_ns) {
		rc = next_released(vm, fmask, types, timeout_ns, &rec);  /* it may sleep */
	}
	if (rc != SHMCP_WAIT_READY && rc != SHMCP_WAIT_PRESENTED)
		return PyLong_FromLong(rc);
	return shown_of(vm, rc, &rec, show);
}

/* What core_wait returns for the record @rec that core_next took with @rc. */
static PyObject *shown_of(Machine *vm, int rc, const struct shmcp_record *rec, int show)
{
	PyObject *vmcf = NULL;
	int vmcf_rc = show && rc == SHMCP_WAIT_PRESENTED && rec->facility == SHMCP_VMCF ?
		      vmcf_show(vm, rec, &vmcf) : 0;
	if (vmcf_rc)
		return vmcf_rc < 0 ? NULL : vmcf;
	uint8_t itype = rec->data[IP_TYPE];
	if (!show || rc != SHMCP_WAIT_PRESENTED || rec->facility != SHMCP_IUCV || !by_type ||
	    itype >= PyTuple_GET_SIZE(by_type) ||
	    !PyType_Check(PyTuple_GET_ITEM(by_type, itype)))
		return PyBytes_FromStringAndSize((const char *)rec, sizeof *rec);  /* Python presents it */
	PyObject *shown = image_copy((PyTypeObject *)PyTuple_GET_ITEM(by_type, itype), rec->data);
	if (shown && note_presented(vm, rec->data) < 0)
		Py_CLEAR(shown);
	return shown;
}

/* presented(vm, image): note_presented, for an interrupt presented in Python. */
static PyObject *iucv_presented(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	Py_buffer view;
	if (nargs != 2 || !PyObject_TypeCheck(args[0], &MachineType)) {
		PyErr_SetString(PyExc_TypeError, "presented(vm: Machine, image: bytes)");
		return NULL;
	}
	if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if (view.len != IMAGE_LEN) {
		PyBuffer_Release(&view);
		PyErr_Format(PyExc_ValueError, "presented(): the image is %zd bytes, not %d", view.len,
			     IMAGE_LEN);
		return NULL;
	}
	int rc = note_presented((Machine *)args[0], view.buf);
	PyBuffer_Release(&view);
	if (rc < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* -- The Pythonic layer's batches (shmcp/pythonic/router.py) -------------
 *
 * A one-way stream hands the layer one interrupt per message at each end:
 * a message-complete (06/07) at the source, a message-pending (08/09) at
 * the target.  Taken one core wait at a time, each cost a Python frame, the
 * router's lock and a parameter-list object; the completions of one-way
 * messages only count (they free a slot under the path's message limit).
 * take_batch takes the interrupts already queued behind the first in the
 * same call, as long as they are one-way traffic, and counts those
 * completions per path instead of showing them.
 */

#define BATCH_MAX 64    /* interrupts per take_batch: the rest wait for the next call */
#define BATCH_PATHS 16  /* paths whose completions one call counts */

struct path_count {
	uint32_t pathid, n;
};

/* Add the counts to @counts (pathid -> int); 0 or -1 with an exception. */
static int add_counts(PyObject *counts, const struct path_count *pc, int npaths)
{
	for (int i = 0; i < npaths; i++) {
		PyObject *key = PyLong_FromUnsignedLong(pc[i].pathid);
		if (!key)
			return -1;
		PyObject *old = PyDict_GetItemWithError(counts, key);
		long n = pc[i].n + (old ? PyLong_AsLong(old) : 0);
		PyObject *val = PyErr_Occurred() ? NULL : PyLong_FromLong(n);
		int rc = val ? PyDict_SetItem(counts, key, val) : -1;
		Py_XDECREF(val);
		Py_DECREF(key);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* take_batch(vm, timeout_ns, counts[, message_class]): the next interrupt (waiting up to
 * timeout_ns, -1: no limit) as wait() takes it, and those queued behind it
 * while they are one-way messages' interrupts; the completions of one-way
 * messages are counted into @counts (pathid -> how many), the rest come
 * back in order in a list: parameter lists, a record's bytes for Python to
 * present (last), or the wait's outcome as an int (alone).
 * NotImplemented: wait()'s own path is needed (interrupts taken earlier,
 * every facility handled, not logged on). */
PyObject *take_batch(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs < 3 || nargs > 4 || !PyObject_TypeCheck(args[0], &MachineType) ||
	    !PyDict_CheckExact(args[2]) || (nargs == 4 && !is_message_type(args[3]))) {
		PyErr_SetString(PyExc_TypeError, "take_batch(vm: Machine, timeout_ns: int, counts: dict"
				"[, message_class])");
		return NULL;
	}
	/* the Pythonic layer's Message class: message-pending interrupts come
	 * as its bare Messages, not parameter lists (inbox.c files them) */
	PyTypeObject *message_class = nargs == 4 ? (PyTypeObject *)args[3] : NULL;
	Machine *vm = (Machine *)args[0];
	PyObject *counts = args[2];
	int64_t timeout_ns = PyLong_AsLongLong(args[1]);
	if (timeout_ns == -1 && PyErr_Occurred())
		return NULL;
	Py_ssize_t released = vm->released ? PyObject_Length(vm->released) : 0;
	if (released < 0)
		PyErr_Clear();  /* not a deque: wait()'s path says so */
	if (released || !unhandled_facilities || !vm->logged_on || !core_next)
		Py_RETURN_NOTIMPLEMENTED;
	PyObject *out = PyList_New(0);
	if (!out)
		return NULL;
	shmcp_sys *h = vm->h;
	int32_t slot = vm->slot;
	uint32_t gen = vm->gen;
	struct path_count pc[BATCH_PATHS];
	int npaths = 0;
	for (int i = 0; i < BATCH_MAX; i++) {
		struct shmcp_record rec;
		uint32_t fmask = unhandled_facilities, types = vm->present_types;
		int rc;
		if (i == 0 && timeout_ns) {
			rc = next_released(vm, fmask, types, timeout_ns, &rec);  /* it may sleep */
		} else if (!vm->logged_on) {  /* LOGOFF by another thread meanwhile */
			break;
		} else {  /* neither sleeps nor spins: the GIL stays, as in SEND */
			rc = core_next(h, slot, gen, (int)fmask, types, 0, 0, &rec);
		}
		if (rc != SHMCP_WAIT_READY && rc != SHMCP_WAIT_PRESENTED) {
			if (i == 0 || rc < 0 || rc == SHMCP_WAIT_DOWN) {  /* the outcome is Python's to raise */
				PyObject *o = PyLong_FromLong(rc);
				if (!o || PyList_Append(out, o) < 0) {
					Py_XDECREF(o);
					goto fail;
				}
				Py_DECREF(o);
			}
			break;
		}
		uint8_t itype = rec.data[IP_TYPE];
		int oneway = rc == SHMCP_WAIT_PRESENTED && rec.facility == SHMCP_IUCV &&
			     (rec.data[SHMCP_IP_FLAGS1] & SHMCP_IPNORPY);
		if (oneway && (itype == SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE ||
			       itype == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)) {
			if (note_presented(vm, rec.data) < 0)
				goto fail;
			uint32_t pathid = (uint32_t)be_get(rec.data + SHMCP_IP_PATHID, 2);
			int k = 0;
			while (k < npaths && pc[k].pathid != pathid)
				k++;
			if (k == npaths) {
				if (npaths == BATCH_PATHS) {
					if (add_counts(counts, pc, npaths) < 0)
						goto fail;
					npaths = k = 0;
				}
				pc[npaths++] = (struct path_count){pathid, 0};
			}
			pc[k].n++;
			continue;
		}
		PyObject *shown;
		if (message_class && rc == SHMCP_WAIT_PRESENTED && rec.facility == SHMCP_IUCV &&
		    (itype == SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING ||
		     itype == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING)) {
			shown = message_of_image(message_class, rec.data);
			if (shown && note_presented(vm, rec.data) < 0)
				Py_CLEAR(shown);
		} else {
			shown = shown_of(vm, rc, &rec, 1);
		}
		if (!shown || PyList_Append(out, shown) < 0) {
			Py_XDECREF(shown);
			goto fail;
		}
		Py_DECREF(shown);
		if (!oneway || PyBytes_CheckExact(shown))
			break;  /* a reply or a connection's news: no batch behind it */
	}
	if (add_counts(counts, pc, npaths) < 0)
		goto fail;
	return out;
fail:  /* what was taken is counted all the same */
	{
		PyObject *type, *value, *tb;
		PyErr_Fetch(&type, &value, &tb);
		if (add_counts(counts, pc, npaths) < 0)
			PyErr_Clear();
		PyErr_Restore(type, value, tb);
	}
	Py_DECREF(out);
	return NULL;
}

/* receive_data(plist): RECEIVE the message an 08/09's parameter list
 * names (by path, message id and class) into a new bytes object of the
 * message's length (8 for parameter-list data): the bytes, or the
 * condition code (an int) when it is gone; NotImplemented: the Python
 * path's (no VM).  The bytes are new and unshared until returned. */
PyObject *receive_data(PyObject *mod, PyObject *plist)
{
	(void)mod;
	struct call c;
	if (!call_of(plist, &c))
		Py_RETURN_NOTIMPLEMENTED;
	return receive_image(c.image);
}

PyObject *receive_image(uint8_t *image)
{
	Machine *vm = current_vm;
	if (!core_call || !vm || !vm->logged_on)
		Py_RETURN_NOTIMPLEMENTED;
	uint32_t size = image[SHMCP_IP_FLAGS1] & SHMCP_IPRMDATA ? 8 : word(image, SHMCP_IP_BFLN1F);
	if (size >= 0x80000000u)
		Py_RETURN_NOTIMPLEMENTED;
	PyObject *data = PyBytes_FromStringAndSize(NULL, size);
	if (!data)
		return NULL;
	image[SHMCP_IP_FLAGS1] = SHMCP_IPFGPID | SHMCP_IPFGMID | SHMCP_IPFGMCL;
	be_put(image + SHMCP_IP_BFLN1F, 4, size);
	int cc = core_call(vm->h, vm->slot, vm->gen, SHMCP_IUCV_RECEIVE, image, NULL,
			   (uint8_t *)PyBytes_AS_STRING(data));
	if (cc == 0)
		return data;
	Py_DECREF(data);
	return outcome((PyObject *)vm, SHMCP_IUCV_RECEIVE, cc);
}

PyObject *receive_failed(Machine *vm, int cc)
{
	return outcome((PyObject *)vm, SHMCP_IUCV_RECEIVE, cc);
}

/* bind_core(*, iucv_call, next, wait, leave): the addresses of the core's
 * shmcp_iucv_call, shmcp_next, shmcp_wait and shmcp_leave (from the cffi
 * module), once. */
static PyObject *bind_core(PyObject *mod, PyObject *args, PyObject *kw)
{
	(void)mod;
	static char *kwlist[] = {"iucv_call", "next", "wait", "leave", NULL};
	PyObject *call_o = NULL, *next_o = NULL, *wait_o = NULL, *leave_o = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O!O!O!O!:bind_core", kwlist, &PyLong_Type,
					 &call_o, &PyLong_Type, &next_o, &PyLong_Type, &wait_o,
					 &PyLong_Type, &leave_o))
		return NULL;
	if (core_call) {
		PyErr_SetString(PyExc_RuntimeError, "bind_core(): already bound");
		return NULL;
	}
	if (!call_o || !next_o || !wait_o || !leave_o) {
		PyErr_SetString(PyExc_TypeError, "bind_core() needs iucv_call=, next=, wait= and leave=");
		return NULL;
	}
	void *call = core_address("bind_core", call_o);
	void *next = call ? core_address("bind_core", next_o) : NULL;
	void *wait = next ? core_address("bind_core", wait_o) : NULL;
	void *leave = wait ? core_address("bind_core", leave_o) : NULL;
	if (!leave)
		return NULL;
	core_call = (iucv_call_fn *)call;
	core_next = (next_fn *)next;
	core_wait_only = (wait_fn *)wait;
	core_let_go = (leave_fn *)leave;
	Py_RETURN_NONE;
}

/* bind_iucv(*, classes, failed, send, receive, reply): shmcp/iucv.py's part,
 * once: the parameter-list class of each interrupt type (a tuple), what
 * raises a core error, the Python path of the three calls. */
static PyObject *bind_iucv(PyObject *mod, PyObject *args, PyObject *kw)
{
	(void)mod;
	static char *kwlist[] = {"classes", "failed", "send", "receive", "reply", NULL};
	PyObject *classes = NULL, *fail = NULL, *path[3] = {NULL, NULL, NULL};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O!OOOO:bind_iucv", kwlist, &PyTuple_Type,
					 &classes, &fail, &path[0], &path[1], &path[2]))
		return NULL;
	if (!classes || !fail || !path[0] || !path[1] || !path[2]) {
		PyErr_SetString(PyExc_TypeError,
				"bind_iucv() needs classes=, failed=, send=, receive= and reply=");
		return NULL;
	}
	if (!PyCallable_Check(fail) || !PyCallable_Check(path[0]) || !PyCallable_Check(path[1]) ||
	    !PyCallable_Check(path[2])) {
		PyErr_SetString(PyExc_TypeError, "bind_iucv(): failed, send, receive and reply are callables");
		return NULL;
	}
	if (by_type) {
		PyErr_SetString(PyExc_RuntimeError, "bind_iucv(): already bound");
		return NULL;
	}
	PyObject *end = PyLong_FromLong(SHMCP_IUCV_BUFFER_SIZE);
	image_slice = end ? PySlice_New(NULL, end, NULL) : NULL;
	Py_XDECREF(end);
	if (!image_slice)
		return NULL;
	by_type = Py_NewRef(classes);
	for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(classes); i++)  /* they live as long */
		if (PyType_Check(PyTuple_GET_ITEM(classes, i)) &&
		    PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(classes, i), &ImageType))
			image_lasting((PyTypeObject *)PyTuple_GET_ITEM(classes, i));
	failed = Py_NewRef(fail);
	for (int i = 0; i < 3; i++)
		python_path[i] = Py_NewRef(path[i]);
	Py_RETURN_NONE;
}

PyMethodDef iucvcall_methods[] = {
	{"bind_core", (PyCFunction)(void (*)(void))bind_core, METH_VARARGS | METH_KEYWORDS,
	 "bind_core(*, iucv_call, next, wait, leave): the core's calls (their addresses), once."},
	{"bind_iucv", (PyCFunction)(void (*)(void))bind_iucv, METH_VARARGS | METH_KEYWORDS,
	 "bind_iucv(*, classes, failed, send, receive, reply): the parameter-list class per "
	 "interrupt type, what raises a core error, the Python path of the three calls; once."},
	{"take_batch", (PyCFunction)(void (*)(void))take_batch, METH_FASTCALL,
	 "take_batch(vm, timeout_ns, counts[, message_class]): the next interrupt and the one-way "
	 "traffic queued behind it; one-way completions counted per path into counts; with "
	 "message_class, message-pending interrupts as its bare Messages."},
	{"receive_data", (PyCFunction)receive_data, METH_O,
	 "receive_data(plist): RECEIVE the message an 08/09 names into new bytes "
	 "(or its condition code)."},
	{"presented", (PyCFunction)(void (*)(void))iucv_presented, METH_FASTCALL,
	 "presented(vm, image): IUCV's work in the process for a presented message interrupt."},
	/* shmcp.iucv's own send, receive and reply: their docs are the API's */
	{"send", (PyCFunction)(void (*)(void))send_call, METH_FASTCALL | METH_KEYWORDS,
	 "send(plist)\n--\n\n"
	 "SEND ``bf1`` (or the 8 bytes of ``data`` with IPRMDATA) on ``pathid``;\n"
	 "two-way unless IPNORPY, the reply landing in ``bf2``."},
	{"receive", (PyCFunction)(void (*)(void))receive_call, METH_FASTCALL | METH_KEYWORDS,
	 "receive(plist)\n--\n\n"
	 "RECEIVE into ``bf1`` the message the selectors name (IPFGPID,\n"
	 "IPFGMID, IPFGMCL) or the first one; the residual goes to ``bf1len``."},
	{"reply", (PyCFunction)(void (*)(void))reply_call, METH_FASTCALL | METH_KEYWORDS,
	 "reply(plist)\n--\n\n"
	 "REPLY to message ``msgid`` (with ``pathid`` and ``trgcls``): the\n"
	 "reply is ``bf2`` (``bf2len`` bytes) or ``data`` with IPRMDATA."},
	{NULL, NULL, 0, NULL},
};
