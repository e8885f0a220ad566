/*
 * shmcp._iparml.sigpause and siginfo: SAS/C's pause, its common case in C.
 *
 * A program written the SAS/C way pauses once per interrupt: a handler
 * established with signal.signal(SIGIUCV, ...), SIGIUCV blocked between
 * pauses, sigpause(0) to wait.  Each pause in Python cost a frame, the mask
 * bookkeeping, the delivery loop's set and siginfo()'s stack: about three
 * times the core wait itself.  Here a pause is one core wait (the C base's
 * take_shown, as wait() takes) and, for the interrupt it took, one call of
 * the program's handler with siginfo() answering it: the interrupt is
 * taken here, so the handler gets it once and in queue order whether it
 * came while the wait spun (no signal sent) or slept (the wait takes the
 * doorbell).
 *
 * The state stays shmcp/signals.py's: its handlers (a dict by signal, and
 * which are established in unhandled_facilities), the library mask
 * (_blocked), whether the OS mask may hold a signal (_os_may_block),
 * siginfo()'s stack (_info), the delivery loops running (_active, and
 * pausing() for this file's pauses).  bind_signals() hands this file those
 * very objects, so both sides read and change one state.  Whatever this file does not do -- another signal
 * in the mask or blocked in the OS, a delivery loop running, interrupts
 * released ahead of the ring, no handler to wait for -- goes to
 * signals.py's _sigpause before anything is changed.  The pause marks
 * both signals' loops as running throughout; the pause's library mask is
 * put in place only where Python runs in this thread (no Python runs
 * while the core waits): a core wait that ended other than with a shown
 * interrupt (a record for Python to present, a sleep slice, another
 * signal, an error) goes on in VirtualMachine.pop_shown under it.
 */
#include "machine.h"
#include "../include/shmcp_vmcf.h"
#include <signal.h>

static PyObject *handlers;  /* signals._handler: signal number -> handler */
static PyObject *info;      /* signals._info: what siginfo() answers, innermost last */
static PyObject *active;    /* signals._active: signals whose delivery loop runs */
static PyObject *globals;   /* signals.py's dict: _blocked, _os_may_block */
static PyObject *slow;      /* signals._sigpause: the whole pause in Python */
static PyObject *deliver;   /* signals._deliver(signum, frame) */
static PyObject *cut_short; /* signals._cut_short(signals) */
static PyObject *sig_of[SHMCP_NFAC];  /* each facility's signal (an int) */
static uint64_t sig_bit[SHMCP_NFAC];  /* and its mask bit */
static PyObject *both;      /* a tuple of those */
static uint64_t ours;       /* their mask bits: the library's, never the OS's */
static PyObject *s_blocked, *s_os_may_block, *s_pop_shown;  /* interned */
/* C pauses under way in this process: each marks both signals' delivery
 * loops as running (signals._deliver and this file's common case look
 * here as at signals._active; a count costs less than a set's adds and
 * discards on every pause) */
static int pauses_running;

/* bind_signals(handlers, info, active, globals, slow, deliver, cut_short,
 * signals): signals.py's state and functions; @signals: each facility's
 * signal, by facility number. */
static PyObject *bind_signals(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 8 || !PyDict_CheckExact(args[0]) || !PyList_CheckExact(args[1]) ||
	    !PySet_CheckExact(args[2]) || !PyDict_CheckExact(args[3]) ||
	    !PyTuple_CheckExact(args[7]) || PyTuple_GET_SIZE(args[7]) != SHMCP_NFAC) {
		PyErr_SetString(PyExc_TypeError, "bind_signals(handlers: dict, info: list, active: set, "
				"globals: dict, slow, deliver, cut_short, signals: tuple by facility)");
		return NULL;
	}
	uint64_t bits = 0;
	for (int f = 0; f < SHMCP_NFAC; f++) {
		PyObject *sig = PyTuple_GET_ITEM(args[7], f);
		long n = PyLong_Check(sig) ? PyLong_AsLong(sig) : -1;
		if (n < 1 || n >= NSIG) {
			PyErr_Clear();
			PyErr_Format(PyExc_ValueError, "bind_signals(): facility %d's signal is %R", f, sig);
			return NULL;
		}
		Py_XSETREF(sig_of[f], PyLong_FromLong(n));
		if (!sig_of[f])
			return NULL;
		sig_bit[f] = 1ull << (n - 1);
		bits |= sig_bit[f];
	}
	PyObject **slots[] = {&handlers, &info, &active, &globals, &slow, &deliver, &cut_short, &both};
	for (int i = 0; i < 8; i++)
		Py_XSETREF(*slots[i], Py_NewRef(args[i]));
	ours = bits;
	Py_RETURN_NONE;
}

/* siginfo(): the innermost interrupt being handled, or None. */
static PyObject *siginfo(PyObject *mod, PyObject *unused)
{
	(void)mod, (void)unused;
	Py_ssize_t n = info ? PyList_GET_SIZE(info) : 0;
	return Py_NewRef(n ? PyList_GET_ITEM(info, n - 1) : Py_None);
}

/* signals.py's global @name (borrowed), or NULL with an exception. */
static PyObject *global(PyObject *name)
{
	PyObject *v = PyDict_GetItemWithError(globals, name);
	if (!v && !PyErr_Occurred())
		PyErr_Format(PyExc_RuntimeError, "shmcp.signals has no %U", name);
	return v;
}

/* The thread's OS mask as SAS/C's bits, or -1 with an exception. */
static int os_mask(uint64_t *out)
{
	sigset_t set;
	if (pthread_sigmask(SIG_BLOCK, NULL, &set)) {
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	*out = 0;
	for (int s = 1; s < NSIG && s <= 64; s++)
		if (sigismember(&set, s) == 1)
			*out |= 1ull << (s - 1);
	return 0;
}

/* The facilities whose handler would take an interrupt under the library
 * mask @blocked (bit n: facility n): established (unhandled_facilities,
 * which signals.py sets whenever a handler changes) and not blocked. */
static uint32_t takers(uint64_t blocked)
{
	uint32_t fmask = 0;
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (!(blocked & sig_bit[f]) && !(unhandled_facilities & (1u << f)))
			fmask |= 1u << f;
	return fmask;
}

/* Whether the pause under @mask is this file's: 1, 0 (signals.py's), or
 * -1 with an exception.  *@vm: the VM; *@fmask: the facilities to wait
 * for; *@pausing: the library mask meanwhile. */
static int common_case(PyObject *mask, Machine **vm, uint32_t *fmask, uint64_t *pausing)
{
	if (!PyLong_CheckExact(mask))
		return 0;
	int overflow;
	long long m = PyLong_AsLongLongAndOverflow(mask, &overflow);
	if (m == -1 && PyErr_Occurred())
		return -1;
	if (overflow || m < 0 || (uint64_t)m & ~ours)  /* another signal's, or the checks' to say */
		return 0;
	*pausing = (uint64_t)m;
	*vm = current_vm;
	if (!*vm || !(*vm)->logged_on || pauses_running || PySet_GET_SIZE(active))
		return 0;
	Py_ssize_t released = (*vm)->released ? PyObject_Length((*vm)->released) : 0;
	if (released < 0)
		PyErr_Clear();  /* not a deque: the Python path's to say */
	if (released)
		return 0;
	PyObject *may = global(s_os_may_block);
	int may_block = may ? PyObject_IsTrue(may) : -1;
	if (may_block < 0)
		return -1;
	if (may_block) {  /* the OS mask stays as it is: nothing of another signal in it */
		uint64_t os;
		if (os_mask(&os) < 0)
			return -1;
		if (os & ~ours)
			return 0;
	}
	*fmask = takers(*pausing);
	return *fmask != 0;
}

/* The handler of facility @fac's signal, once, for @shown (what siginfo()
 * answers inside it); the caller's @frame.  0, or -1 with an exception. */
static int call_handler(int fac, PyObject *shown, PyObject *frame)
{
	PyObject *h = PyDict_GetItemWithError(handlers, sig_of[fac]);
	if (!h)
		return PyErr_Occurred() ? -1 : 0;  /* taken away meanwhile: nothing to call */
	Py_INCREF(h);
	if (PyList_Append(info, shown) < 0) {
		Py_DECREF(h);
		return -1;
	}
	PyObject *args[2] = {sig_of[fac], frame};
	PyObject *res = PyObject_Vectorcall(h, args, 2, NULL);
	Py_DECREF(h);
	Py_XDECREF(res);
	/* popped whatever happened (the handler's own nesting is balanced) */
	PyObject *et, *ev, *tb;
	PyErr_Fetch(&et, &ev, &tb);
	Py_ssize_t n = PyList_GET_SIZE(info);
	int rc = n ? PyList_SetSlice(info, n - 1, n, NULL) : 0;
	if (et) {
		if (rc < 0)
			PyErr_Clear();
		PyErr_Restore(et, ev, tb);
		return -1;
	}
	return rc;
}

/* pop_shown going on from what a core wait returned for Python (@got,
 * stolen: a record's bytes or an outcome): the interrupt it shows (*@fac
 * set), None (none: another signal's handler ends the pause), or NULL with
 * an exception. */
static PyObject *go_on(Machine *vm, uint32_t fmask, PyObject *got, int *fac)
{
	PyObject *fm = PyLong_FromUnsignedLong(fmask), *forever = PyLong_FromLong(-1);
	PyObject *pair = fm && forever ? PyObject_CallMethodObjArgs((PyObject *)vm, s_pop_shown, fm,
								    forever, got, NULL) : NULL;
	Py_XDECREF(fm);
	Py_XDECREF(forever);
	Py_DECREF(got);
	if (!pair || pair == Py_None)
		return pair;
	long f = -1;
	if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2)
		f = PyLong_AsLong(PyTuple_GET_ITEM(pair, 0));
	if (f < 0 || f >= SHMCP_NFAC) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_TypeError, "pop_shown() returned %R, not None or (facility, "
				     "shown)", pair);
		Py_DECREF(pair);
		return NULL;
	}
	*fac = (int)f;
	PyObject *shown = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
	Py_DECREF(pair);
	return shown;
}

/* pop_shown going on from @got (go_on) with the library mask @pausing
 * in place meanwhile: Python runs there (another signal's handler may ask
 * for the mask), as it does not while the core waits. */
static PyObject *go_on_paused(Machine *vm, uint32_t fmask, uint64_t pausing, PyObject *got, int *fac)
{
	PyObject *old = global(s_blocked);
	PyObject *now = old ? PyLong_FromUnsignedLongLong(pausing) : NULL;
	Py_XINCREF(old);
	if (!now || PyDict_SetItem(globals, s_blocked, now) < 0) {
		Py_XDECREF(now);
		Py_XDECREF(old);
		Py_DECREF(got);
		return NULL;
	}
	Py_DECREF(now);
	PyObject *shown = go_on(vm, fmask, got, fac);
	PyObject *et, *ev, *tb;
	PyErr_Fetch(&et, &ev, &tb);
	if (PyDict_SetItem(globals, s_blocked, old) < 0) {
		Py_CLEAR(shown);
		if (et)
			PyErr_Clear();  /* the first exception goes on */
		else
			PyErr_Fetch(&et, &ev, &tb);
	}
	Py_DECREF(old);
	PyErr_Restore(et, ev, tb);
	return shown;
}

/* The pause's wait for the facilities @fmask, the library mask @pausing
 * meanwhile: the interrupt it took (*@fac, *@shown: a new reference), or
 * *@shown NULL when none was (the wait ended for another signal's
 * handler).  0, or -1 with an exception.  The library mask is the
 * program's again before any handler runs (a handler may change it). */
static int take_one(Machine *vm, uint32_t fmask, uint64_t pausing, int *fac, PyObject **shown)
{
	*shown = NULL;
	PyObject *got = core_wait(vm, fmask, -1, -1, 1);
	if (got && (PyBytes_CheckExact(got) || PyLong_CheckExact(got)))
		got = go_on_paused(vm, fmask, pausing, got, fac);
	else if (got)
		*fac = PyObject_TypeCheck(got, &ImageType) ? SHMCP_IUCV : SHMCP_VMCF;
	if (!got)
		return -1;
	if (got == Py_None)
		Py_DECREF(got);
	else
		*shown = got;
	return 0;
}

/* After the pause: the handlers the restored mask lets through take what
 * is queued (signals._deliver), as after a POSIX sigsuspend. */
static int deliver_after(PyObject *frame)
{
	PyObject *blocked = global(s_blocked);
	if (!blocked)
		return -1;
	uint64_t now = PyLong_AsUnsignedLongLong(blocked);
	if (now == (uint64_t)-1 && PyErr_Occurred())
		return -1;
	uint32_t fmask = takers(now);
	for (int f = 0; f < SHMCP_NFAC; f++) {
		if (!(fmask & (1u << f)))
			continue;
		PyObject *args[2] = {sig_of[f], frame};
		PyObject *res = PyObject_Vectorcall(deliver, args, 2, NULL);
		if (!res)
			return -1;
		Py_DECREF(res);
	}
	return 0;
}

static PyObject *pause_common(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	(void)mod;
	if (!slow) {
		PyErr_SetString(PyExc_RuntimeError, "sigpause: shmcp.signals is not bound (bind_signals)");
		return NULL;
	}
	static PyObject *zero;
	if (!zero && !(zero = PyLong_FromLong(0)))
		return NULL;
	PyObject *mask = kwnames ? NULL : nargs == 1 ? args[0] : nargs == 0 ? zero : NULL;
	Machine *vm = NULL;
	uint32_t fmask = 0;
	uint64_t mask_in_pause = 0;
	int mine = mask ? common_case(mask, &vm, &fmask, &mask_in_pause) : 0;
	if (mine < 0)
		return NULL;
	if (!mine)
		return PyObject_Vectorcall(slow, args, nargs, kwnames);
	Py_INCREF(vm);  /* another thread may log it off while this one waits */
	PyObject *frame = (PyObject *)PyEval_GetFrame();  /* the caller's (borrowed) */
	frame = Py_NewRef(frame ? frame : Py_None);
	/* the pause delivers by itself: a doorbell handled meanwhile must not
	 * slip the next interrupt in ahead of the one the pause took */
	pauses_running++;
	int fac = 0;
	PyObject *shown = NULL;
	int rc = take_one(vm, fmask, mask_in_pause, &fac, &shown);
	Py_DECREF(vm);
	if (!rc && shown)
		rc = call_handler(fac, shown, frame);
	Py_XDECREF(shown);
	pauses_running--;  /* unmarked whatever happened */
	if (!rc) {
		rc = deliver_after(frame);  /* its own loop cuts short what it must */
		Py_DECREF(frame);
		if (rc < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	Py_DECREF(frame);
	/* the exception goes on; what is still due is handled at Python's next
	 * check for signals (signals._cut_short) */
	PyObject *et, *ev, *tb;
	PyErr_Fetch(&et, &ev, &tb);
	PyObject *res = PyObject_CallOneArg(cut_short, both);
	if (!res) {  /* as in a finally clause that raised: that exception goes on */
		Py_XDECREF(et);
		Py_XDECREF(ev);
		Py_XDECREF(tb);
		return NULL;
	}
	Py_DECREF(res);
	PyErr_Restore(et, ev, tb);
	return NULL;
}

/* pausing(): whether a C pause is under way (its loops count as running). */
static PyObject *pausing_now(PyObject *mod, PyObject *unused)
{
	(void)mod, (void)unused;
	return PyBool_FromLong(pauses_running);
}

static PyMethodDef sigpause_methods[] = {
	{"pausing", pausing_now, METH_NOARGS,
	 "pausing(): whether a C sigpause is under way in this process (both signals' delivery "
	 "loops count as running meanwhile)."},
	{"bind_signals", (PyCFunction)(void (*)(void))bind_signals, METH_FASTCALL,
	 "bind_signals(handlers, info, active, globals, slow, deliver, cut_short, signals): "
	 "shmcp.signals' state and functions, shared with sigpause and siginfo."},
	{"siginfo", siginfo, METH_NOARGS,
	 "siginfo($module, /)\n--\n\n"
	 "In a SIGIUCV / SIGVMCF handler: the interrupt being handled (of the\n"
	 "innermost handler when nested).  Outside any handler: None."},
	{"sigpause", (PyCFunction)(void (*)(void))pause_common, METH_FASTCALL | METH_KEYWORDS,
	 "sigpause($module, /, mask=0)\n--\n\n"
	 "Install ``mask``, wait until one unblocked signal has been handled,\n"
	 "restore the previous mask and return.  An interrupt that arrived while\n"
	 "SIGIUCV was blocked ends the pause at once (block, provoke, pause: no\n"
	 "wake-up is lost).  Handles one interrupt even if several are queued.\n\n"
	 "One core wait takes it: spinning first, while the interrupt may come\n"
	 "with this process awake (then no signal is sent at all and the handler\n"
	 "is called from here), then asleep until the doorbell, which the wait\n"
	 "itself takes.  Either way the interrupt is taken off the queue here,\n"
	 "so it reaches the handler once, in queue order."},
	{NULL, NULL, 0, NULL},
};

int sigpause_add(PyObject *m)
{
	if (!(s_blocked = PyUnicode_InternFromString("_blocked")) ||
	    !(s_os_may_block = PyUnicode_InternFromString("_os_may_block")) ||
	    !(s_pop_shown = PyUnicode_InternFromString("pop_shown")))
		return -1;
	return PyModule_AddFunctions(m, sigpause_methods);
}
