/* What the C of the Pythonic layer's messages shares: message.c (the
 * MessageCore type and the binding), inbox.c (filing and taking),
 * pumper.c (the router's pump and waits), pathsend.c (Path.send's common
 * cases), receive.c (VirtualMachine.receive's).  Each piece of state has
 * one owner, named beside it here. */
#ifndef SHMCP_PYEXT_PYTHONIC_H
#define SHMCP_PYEXT_PYTHONIC_H

#include "message.h"

typedef struct {
	PyObject_HEAD
	/* the message-pending interrupt's parameter list (_p), made from
	 * image when first asked for; once made, its image is the message's */
	PyObject *plist;
	PyObject *data;    /* bytes once RECEIVEd (_data); NULL or None before */
	/* the core's error its RECEIVE ahead (by its vm) met, a corrupt
	 * segment: the take raises it, once, as its own RECEIVE would have.
	 * Kept as a code, not an exception, so that nothing runs Python (and
	 * no Ctrl-C can be caught) until the take; 0: none */
	int error_cc;
	PyObject *path;    /* its Path, or None */
	PyObject *router;  /* its VM's Router */
	/* the VM it came to (current when it was made; NULL if none was):
	 * once that VM logged off the message is gone with it, and nothing
	 * is done for it as the VM this process logged on as next */
	Machine *vm;
	int flags;         /* the interrupt's IPFLAGS1 (_flags) */
	char answered;     /* replied, rejected, one-way or gone (_answered) */
	char taken;        /* by a receive (it sits in two inboxes) */
	char in_path;      /* filed in its path's own inbox too (_in_path) */
	uint8_t image[IMAGE_LEN];  /* the interrupt's image while plist is NULL */
} MessageObject;

/* message.c: the classes bind_message() bound (NULL before) */
extern PyTypeObject *message_type;  /* message.py's Message */
extern PyTypeObject *plist_type;    /* the parameter list of an 08/09 (MsgPlist) */
extern PyTypeObject *comp_type;     /* and of an 06/07 (CompPlist) */

/* message.c: the attribute names more than one file asks for, interned */
extern PyObject *s_mutex, *s_vm_inbox, *s_completions, *s_router;

/* A name and where what it names goes, fetched once at import: a file's
 * attribute names interned (intern_names), a type's methods
 * (unbound_methods). */
struct interned {
	PyObject **s;
	const char *name;
};

int intern_names(const struct interned *names, size_t n);

/* The methods @names of @module.@type, each unbound (called with the
 * object first: no attribute lookup per call), fetched once at import:
 * 0, or -1 with an exception. */
int unbound_methods(const char *module, const char *type, const struct interned *names,
		    size_t n);

/* message.c */
int is_message(PyObject *o);
PyObject *message_new(PyTypeObject *type, PyObject *plist, int flags, PyObject *path,
		      PyObject *router);
int fetch(MessageObject *m);
PyObject *pass_on(PyObject *fn, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
		  PyObject *kwnames);

/* inbox.c: the first message of @inbox not taken yet, RECEIVEd, or None
 * (router mutex held) */
PyObject *take_from(PyObject *inbox, PyObject *vm_inbox);
PyObject *file_messages(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);

/* inbox.c: the head of @inbox when it was RECEIVEd ahead and nobody holds
 * @mutex, taken without the mutex; else NULL (the locked take's) */
PyObject *take_ready(PyObject *inbox, PyObject *mutex);

/* receive.c: a receive's batch's one-way messages RECEIVEd in one core
 * call before they are filed (what it cannot RECEIVE is left to the takes;
 * a core error is kept for the take, MessageObject.error_cc) */
void receive_ahead(PyObject *batch);

/* pumper.c: as the pumper, the next message or a message's completion (on
 * @path, or NULL); None once another thread pumps, or @path was severed
 * by this end */
enum { FOR_MESSAGE, FOR_REPLY };
PyObject *pumper_wait(PyObject *router, int mode, PyObject *msgid, PyObject *deadline,
		      PyObject *path);

/* pumper.c: _thread.lock's acquire, release and locked, called with the
 * lock first */
extern PyObject *lock_acquire, *lock_release, *lock_locked;
int lock_call(PyObject *how, PyObject *mutex);

/* The exception pending when a finally begins, held through its steps. */
struct held {
	PyObject *type, *value, *tb;
};

static inline void hold(struct held *h)
{
	PyErr_Fetch(&h->type, &h->value, &h->tb);
}

/* A finally's end: the held exception back, or -- when its own steps
 * failed (@failed) -- theirs wins and *@res, the try's outcome, goes. */
static inline void unhold(struct held *h, int failed, PyObject **res)
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

/* Each file's names interned and module functions added to @m
 * (message_add calls them). */
int inbox_add(PyObject *m);
int pumper_add(PyObject *m);
int pathsend_add(PyObject *m);
int receive_add(PyObject *m);

#endif
