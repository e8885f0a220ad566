/*
 * shmcp._iparml's VMCF calls: DIAGNOSE X'68' for the message subfunctions
 * in their common case, and the showing of a VMCF interrupt the core
 * presented (vmcf.c's present_hook) as its Vmcmhdr.
 *
 * The same reasons and rules as iucvcall.c's: in Python, the VMCPARM's
 * fields through their descriptors, the buffer checks and cffi's argument
 * conversion cost several times the core's call.  Here shmcp.vmcf.diag68
 * takes a Vmcparm whose vada / vadb hold bytes (data going out), a
 * bytearray, a C-contiguous memoryview (a slice of a buffer, as a server
 * echoing what it RECEIVEd passes) or an int, reads its slots directly (their offsets are taken
 * from the class's member descriptors at binding), builds the 40-byte
 * image and calls shmcp_vmcf_diag68 with the GIL held.  Anything else --
 * another buffer type, AUTHORIZE, UNAUTHORIZE, CANCEL, QUIESCE, RESUME, no
 * VM, the VMCF state of this logon not bound yet -- goes, before anything
 * is done, to the Python path shmcp/vmcf.py binds, which makes every check
 * of its own.
 *
 * The VMCF state of the logon (vmcf.py's _Local) is shared, not copied:
 * its table of REPLY buffers in flight (a VmcfReplies, vmcfreply.c) and
 * its AUTHORIZE buffer are handed here by vmcf_state() whenever they
 * change.  A SEND/RECV's REPLY buffer is recorded there, holding its
 * export: the core writes the reply into it when the RESPONSE is
 * presented (present_hook), so it must not move until then.
 */
#include "machine.h"
#include "vmcfcall.h"
#include "../include/shmcp_vmcf.h"
#include <structmember.h>

typedef __typeof__(shmcp_vmcf_diag68) diag68_fn;

enum { F1, F2, FUNC, MID, USER, VADA, LENA, VADB, LENB, USE, BUF, NSLOTS };
static const char *const slot_names[NSLOTS] = {
	"_f1", "_f2", "_func", "_mid", "_user", "_vada", "_lena", "_vadb", "_lenb", "_use", "buf"};

static diag68_fn *core_diag68;   /* shmcp_vmcf_diag68 in the cffi module */
static PyTypeObject *parm_type;  /* shmcp.vmcf.Vmcparm */
static PyTypeObject *hdr_type;   /* shmcp.vmcf.Vmcmhdr */
static Py_ssize_t parm_off[NSLOTS - 1], hdr_off[NSLOTS];
static PyObject *python_diag68;  /* vmcf.py's Python path: (parm) -> rc */
static PyObject *failed;         /* vmcf.py's failed(vm, func, rc): raises */
static PyObject *empty;          /* b"" */
/* the VMCF state of one logon (vmcf_state) */
static Machine *state_vm;        /* borrowed: compared, never used alone */
static uint32_t state_gen;
static PyObject *replies;        /* a VmcfReplies (vmcfreply.c) */
static PyObject *auth;           /* the AUTHORIZE buffer (a memoryview) or NULL */

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Is the bound state this VM's, logon included? */
static int state_of(Machine *vm)
{
	return vm && vm->logged_on && state_vm == vm && state_gen == vm->gen && replies;
}

/* An int slot @v of at most @bits bits into *@out: 1, or 0 (not an int
 * in range: Python's to say). */
static int uint_of(PyObject *v, int bits, uint64_t *out)
{
	if (!v || !PyLong_CheckExact(v))
		return 0;
	unsigned long long x = PyLong_AsUnsignedLongLong(v);
	if (x == (unsigned long long)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		return 0;
	}
	if (bits < 64 && x >> bits)
		return 0;
	*out = x;
	return 1;
}

/* The C-contiguous buffer of memoryview @v (its own: no new export), or
 * NULL: released, or another layout (Python's to check and say). */
static Py_buffer *view_of(PyObject *v)
{
	PyMemoryViewObject *mv = (PyMemoryViewObject *)v;
	if (mv->flags & _Py_MEMORYVIEW_RELEASED || !PyBuffer_IsContiguous(&mv->view, 'C'))
		return NULL;
	return &mv->view;
}

/* An address field: an int (*@raw, no storage) or bytes / bytearray / a
 * C-contiguous memoryview (*@at, *@size; the GIL, held across the core's
 * call, keeps it from moving).  1, or 0: Python's. */
static int area_of(PyObject *v, uint64_t *raw, uint8_t **at, uint64_t *size, int *readonly)
{
	*raw = 0;
	*at = NULL;
	*size = 0;
	*readonly = 0;
	if (!v)
		return 0;
	if (PyLong_CheckExact(v))
		return uint_of(v, 32, raw);
	if (PyByteArray_CheckExact(v)) {
		*size = (uint64_t)PyByteArray_GET_SIZE(v);
		*at = *size ? (uint8_t *)PyByteArray_AS_STRING(v) : NULL;
		return 1;
	}
	if (PyBytes_CheckExact(v)) {
		*size = (uint64_t)PyBytes_GET_SIZE(v);
		*at = *size ? (uint8_t *)PyBytes_AS_STRING(v) : NULL;
		*readonly = 1;
		return 1;
	}
	if (PyMemoryView_Check(v)) {
		Py_buffer *view = view_of(v);
		if (!view)
			return 0;
		*size = (uint64_t)view->len;
		*at = *size ? (uint8_t *)view->buf : NULL;
		*readonly = view->readonly;
		return 1;
	}
	return 0;
}

/* A length slot: as set, else its area's size.  1, or 0: Python's. */
static int length_of(PyObject *v, uint64_t size, uint32_t *out)
{
	uint64_t x = size;
	if (v != Py_None && !uint_of(v, 32, &x))
		return 0;
	if (x > 0xFFFFFFFFu)
		return 0;
	*out = (uint32_t)x;
	return 1;
}

/* vmcf.py's _storage for an area already read: the return code (RC 1,
 * or @readonly_rc where the core would store into bytes), 0 if good. */
static int storage_rc(PyObject *v, uint64_t size, uint32_t length, int readonly,
		      int writable, int readonly_rc)
{
	if (PyLong_CheckExact(v))
		return length ? SHMCP_VMCF_RC_INVALID_ADDRESS : 0;
	if (length > size)
		return SHMCP_VMCF_RC_INVALID_ADDRESS;
	if (writable && readonly)
		return readonly_rc;
	return 0;
}

static PyObject *python(PyObject *parm)
{
	if (!python_diag68) {
		PyErr_SetString(PyExc_RuntimeError, "shmcp._iparml is not bound to shmcp.vmcf (bind_vmcf)");
		return NULL;
	}
	return PyObject_CallOneArg(python_diag68, parm);
}

/* diag68(parm): DIAGNOSE X'68''s return code (vmcf.py has its doc). */
static PyObject *vmcf_diag68(PyObject *mod, PyObject *parm)
{
	(void)mod;
	Machine *vm = current_vm;
	if (!core_diag68 || Py_TYPE(parm) != parm_type || !state_of(vm))
		return python(parm);
	PyObject *s[NSLOTS - 1];
	for (int i = 0; i < NSLOTS - 1; i++)
		if (!(s[i] = SLOT(parm, parm_off[i])))
			return python(parm);  /* unset: Python's AttributeError */
	uint64_t f1, f2, func, mid, vada, vadb, asize, bsize;
	uint8_t *a, *b;
	int aro, bro;
	uint32_t lena, lenb;
	if (!uint_of(s[F1], 8, &f1) || !uint_of(s[F2], 8, &f2) || !uint_of(s[FUNC], 16, &func) ||
	    !uint_of(s[MID], 32, &mid) || !PyBytes_CheckExact(s[USER]) ||
	    PyBytes_GET_SIZE(s[USER]) != 8 || !PyBytes_CheckExact(s[USE]) ||
	    PyBytes_GET_SIZE(s[USE]) != 8 || !area_of(s[VADA], &vada, &a, &asize, &aro) ||
	    !area_of(s[VADB], &vadb, &b, &bsize, &bro) || !length_of(s[LENA], asize, &lena) ||
	    !length_of(s[LENB], bsize, &lenb))
		return python(parm);
	int bad = 0, keep = 0;
	uint8_t *data = NULL;
	switch (func) {
	case SHMCP_VMCPSENR:
		bad = storage_rc(s[VADB], bsize, lenb, bro, 1, SHMCP_VMCF_RC_INVALID_ADDRESS);
		keep = !bad && lenb;
		__attribute__((fallthrough));  /* and the data going out */
	case SHMCP_VMCPSEND:
	case SHMCP_VMCPSENX:
	case SHMCP_VMCPREPL:
		/* vada first, as vmcf.py checks it */
		{
			int rc = storage_rc(s[VADA], asize, lena, aro, 0, 0);
			if (rc) {
				bad = rc;
				keep = 0;
			}
		}
		data = a;
		break;
	case SHMCP_VMCPRECV:
		bad = storage_rc(s[VADA], asize, lena, aro, 1, SHMCP_VMCF_RC_PROTECTION);
		data = a;
		break;
	case SHMCP_VMCPIDEN:
	case SHMCP_VMCPRJCT:
		break;
	default:  /* the control functions change vmcf.py's state */
		return python(parm);
	}
	if (bad)
		return PyLong_FromLong(bad);
	uint8_t image[SHMCP_VMCF_PARM_LEN];
	image[SHMCP_VMCF_PARM_FLG1] = (uint8_t)f1;
	image[SHMCP_VMCF_PARM_FLG2] = (uint8_t)f2;
	be_put(image + SHMCP_VMCF_PARM_FUNC, 2, func);
	be_put(image + SHMCP_VMCF_PARM_MID, 4, mid);
	memcpy(image + SHMCP_VMCF_PARM_USER, PyBytes_AS_STRING(s[USER]), 8);
	be_put(image + SHMCP_VMCF_PARM_VADA, 4, vada);
	be_put(image + SHMCP_VMCF_PARM_LENA, 4, lena);
	be_put(image + SHMCP_VMCF_PARM_VADB, 4, vadb);
	be_put(image + SHMCP_VMCF_PARM_LENB, 4, lenb);
	memcpy(image + SHMCP_VMCF_PARM_USE, PyBytes_AS_STRING(s[USE]), 8);
	/* The REPLY buffer's export is taken, and room made for its record,
	 * before the call: once the SEND/RECV is queued, another thread's
	 * wait may present its RESPONSE (the core writing the reply) before
	 * this returns.  The GIL, held throughout, keeps the record itself
	 * from being looked for before it is made. */
	Py_buffer pin;
	if (keep) {
		if (PyObject_GetBuffer(s[VADB], &pin, PyBUF_WRITABLE) < 0)
			return NULL;
		if (vmcf_replies_reserve(replies) < 0) {
			PyBuffer_Release(&pin);
			return NULL;
		}
	}
	int rc = core_diag68(vm->h, vm->slot, vm->gen, image, data,
			     keep ? (uint64_t)(uintptr_t)b : 0);
	if (keep && rc == 0)
		vmcf_replies_put(replies, image + SHMCP_VMCF_PARM_USER, (uint32_t)mid, lenb, &pin);
	else if (keep)  /* nothing was queued */
		PyBuffer_Release(&pin);
	return core_outcome(failed, (PyObject *)vm, (int)func, rc, "DIAGNOSE X'68' subfunction");
}

/* An 8-byte field (userid, doubleword) of a shown header as bytes: the
 * object shown last for the same bytes, if one of @n in @cache is, so
 * that each interrupt does not make one and a store of it into a
 * Vmcparm finds its hash made (new reference; NULL with an exception). */
static PyObject *bytes8(PyObject **cache, int n, unsigned *next, const uint8_t *p)
{
	for (int i = 0; i < n; i++)
		if (cache[i] && memcmp(PyBytes_AS_STRING(cache[i]), p, 8) == 0)
			return Py_NewRef(cache[i]);
	PyObject *b = PyBytes_FromStringAndSize((const char *)p, 8);
	if (b)
		Py_XSETREF(cache[(*next)++ % (unsigned)n], Py_NewRef(b));
	return b;
}

static PyObject *users_shown[8], *uses_shown[2];
static unsigned users_next, uses_next;

int vmcf_show(Machine *vm, const struct shmcp_record *rec, PyObject **shown)
{
	if (!hdr_type || !state_of(vm) || rec->ext_len)
		return 0;
	const uint8_t *h = rec->data;
	uint16_t func = (uint16_t)be_get(h + SHMCP_VMCF_PARM_FUNC, 2);
	uint32_t mid = (uint32_t)be_get(h + SHMCP_VMCF_PARM_MID, 4);
	PyObject *user = bytes8(users_shown, 8, &users_next, h + SHMCP_VMCF_PARM_USER);
	PyObject *midobj = PyLong_FromUnsignedLong(mid);
	if (!user || !midobj)
		goto fail;
	/* a SEND/RECV's RESPONSE: its reply is in the REPLY buffer, let go */
	if ((h[SHMCP_VMCF_HDR_STAT] & SHMCP_VMCMRESP) && func == SHMCP_VMCPSENR)
		vmcf_replies_drop(replies, h + SHMCP_VMCF_PARM_USER, mid);
	if (auth) {  /* the header goes into the AUTHORIZE buffer, as CP stores it */
		/* the memoryview holds its export: its buffer cannot move */
		Py_buffer *view = view_of(auth);
		if (!view || view->readonly) {
			PyErr_SetString(PyExc_ValueError, "the AUTHORIZE buffer is not a writable "
					"contiguous memoryview");
			goto fail;
		}
		memcpy(view->buf, h, view->len < SHMCP_VMCF_HDR_LEN ? (size_t)view->len : SHMCP_VMCF_HDR_LEN);
	}
	PyObject *obj = hdr_type->tp_alloc(hdr_type, 0);
	if (!obj)
		goto fail;
	PyObject *v[NSLOTS] = {
		PyLong_FromLong(h[SHMCP_VMCF_HDR_STAT]), PyLong_FromLong(h[SHMCP_VMCF_HDR_EFLG]),
		PyLong_FromLong(func), midobj, user,
		PyLong_FromUnsignedLong((uint32_t)be_get(h + SHMCP_VMCF_PARM_VADA, 4)),
		PyLong_FromUnsignedLong((uint32_t)be_get(h + SHMCP_VMCF_PARM_LENA, 4)),
		PyLong_FromUnsignedLong((uint32_t)be_get(h + SHMCP_VMCF_PARM_VADB, 4)),
		PyLong_FromUnsignedLong((uint32_t)be_get(h + SHMCP_VMCF_PARM_LENB, 4)),
		bytes8(uses_shown, 2, &uses_next, h + SHMCP_VMCF_PARM_USE),
		Py_NewRef(empty)};
	int ok = 1;
	for (int i = 0; i < NSLOTS; i++) {
		ok = ok && v[i];
		SLOT(obj, hdr_off[i]) = v[i];  /* owned by obj from here */
	}
	if (!ok) {
		Py_DECREF(obj);
		return -1;
	}
	*shown = obj;
	return 1;
fail:
	Py_XDECREF(user);
	Py_XDECREF(midobj);
	return -1;
}

/* The offsets of @cls's slots @names (member descriptors) into @off. */
static int slot_offsets(PyTypeObject *cls, int n, Py_ssize_t *off)
{
	for (int i = 0; i < n; i++) {
		PyObject *d = PyObject_GetAttrString((PyObject *)cls, slot_names[i]);
		if (!d)
			return -1;
		int member = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
			     ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
		if (member)
			off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
		Py_DECREF(d);
		if (!member) {
			PyErr_Format(PyExc_TypeError, "bind_vmcf(): %s.%s is not a slot", cls->tp_name,
				     slot_names[i]);
			return -1;
		}
	}
	return 0;
}

/* bind_vmcf(*, diag68, parm, hdr, python, failed): the core's
 * shmcp_vmcf_diag68 (its address), the Vmcparm and Vmcmhdr classes,
 * vmcf.py's Python path of diag68 and what raises a core error; once. */
static PyObject *bind_vmcf(PyObject *mod, PyObject *args, PyObject *kw)
{
	(void)mod;
	static char *kwlist[] = {"diag68", "parm", "hdr", "python", "failed", NULL};
	PyObject *addr = NULL, *parm = NULL, *hdr = NULL, *py = NULL, *fail = NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O!O!O!OO:bind_vmcf", kwlist, &PyLong_Type,
					 &addr, &PyType_Type, &parm, &PyType_Type, &hdr, &py, &fail))
		return NULL;
	if (!addr || !parm || !hdr || !py || !fail || !PyCallable_Check(py) ||
	    !PyCallable_Check(fail)) {
		PyErr_SetString(PyExc_TypeError,
				"bind_vmcf() needs diag68=, parm=, hdr= (classes), python= and failed= "
				"(callables)");
		return NULL;
	}
	if (core_diag68) {
		PyErr_SetString(PyExc_RuntimeError, "bind_vmcf(): already bound");
		return NULL;
	}
	void *fn = core_address("bind_vmcf", addr);
	if (!fn)
		return NULL;
	if (slot_offsets((PyTypeObject *)parm, NSLOTS - 1, parm_off) < 0 ||
	    slot_offsets((PyTypeObject *)hdr, NSLOTS, hdr_off) < 0 ||
	    !(empty = PyBytes_FromStringAndSize(NULL, 0)))
		return NULL;
	parm_type = (PyTypeObject *)Py_NewRef(parm);
	hdr_type = (PyTypeObject *)Py_NewRef(hdr);
	python_diag68 = Py_NewRef(py);
	failed = Py_NewRef(fail);
	core_diag68 = (diag68_fn *)fn;
	Py_RETURN_NONE;
}

/* vmcf_state(vm, replies, auth): the VMCF state of @vm's logon (vmcf.py's
 * _Local): its table of REPLY buffers in flight and its AUTHORIZE buffer
 * (a memoryview, or None); vm None: none. */
static PyObject *vmcf_state(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 3 || (args[0] != Py_None && !PyObject_TypeCheck(args[0], &MachineType)) ||
	    (args[0] != Py_None && !Py_IS_TYPE(args[1], &VmcfRepliesType)) ||
	    (args[2] != Py_None && !PyMemoryView_Check(args[2]))) {
		PyErr_SetString(PyExc_TypeError, "vmcf_state(vm: Machine | None, replies: VmcfReplies, "
				"auth: memoryview | None)");
		return NULL;
	}
	Py_CLEAR(replies);
	Py_CLEAR(auth);
	state_vm = NULL;
	if (args[0] == Py_None)
		Py_RETURN_NONE;
	state_vm = (Machine *)args[0];
	state_gen = state_vm->gen;
	replies = Py_NewRef(args[1]);
	auth = args[2] == Py_None ? NULL : Py_NewRef(args[2]);
	Py_RETURN_NONE;
}

/*
 * Field: a Vmcparm / Vmcmhdr field's store in C.  A Python property per
 * store (its setter's frame and checks) cost ~150 ns, and a round trip
 * stores eight; a read through the property's attrgetter, ~40 ns, and a
 * round trip reads a dozen.  A set value is read from its slot.  The
 * common values -- an int in range for flg1 / flg2 / stat / eflg, func,
 * mid / lena / lenb, bytes, a bytearray or a memoryview not released for vada / vadb
 * (the property would store it as it is), a userid already checked
 * (vmcf.py's dict of them) for user -- go straight into the slot, as the
 * property would store them; everything else, reads and deletes included,
 * goes to the property, which stays the one definition of the field.
 */
enum { FIELD_UINT32, FIELD_AREA, FIELD_USER, FIELD_UINT8, FIELD_UINT16, FIELD_READ };

typedef struct {
	PyObject_HEAD
	PyObject *prop;        /* the property: reads, and every other store */
	PyTypeObject *owner;   /* the class whose slot it is */
	PyObject *users;       /* FIELD_USER: checked value -> the field's bytes */
	Py_ssize_t off;        /* the slot's offset */
	int kind;
} Field;

static void field_dealloc(Field *f)
{
	Py_XDECREF(f->prop);
	Py_XDECREF(f->owner);
	Py_XDECREF(f->users);
	Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyObject *field_get(Field *f, PyObject *obj, PyObject *type)
{
	/* a value as set (None: a length's default, the property's to say) */
	if (obj && obj != Py_None && PyObject_TypeCheck(obj, f->owner)) {
		PyObject *v = SLOT(obj, f->off);
		if (v && v != Py_None)
			return Py_NewRef(v);
	}
	return Py_TYPE(f->prop)->tp_descr_get(f->prop, obj, type);
}

static int field_set(Field *f, PyObject *obj, PyObject *v)
{
	PyObject *store = NULL;
	if (v && PyObject_TypeCheck(obj, f->owner)) {
		switch (f->kind) {
		case FIELD_UINT32:
		case FIELD_UINT16:
		case FIELD_UINT8:
			if (PyLong_CheckExact(v)) {
				int overflow;
				long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
				long long top = f->kind == FIELD_UINT8 ? 0xFF :
						f->kind == FIELD_UINT16 ? 0xFFFF : 0xFFFFFFFFLL;
				if (!overflow && x >= 0 && x <= top)
					store = v;
			}
			break;
		case FIELD_READ:
			break;
		case FIELD_AREA:
			if (PyBytes_CheckExact(v) || PyByteArray_CheckExact(v) ||
			    (PyMemoryView_Check(v) &&
			     !(((PyMemoryViewObject *)v)->flags & _Py_MEMORYVIEW_RELEASED)))
				store = v;
			break;
		case FIELD_USER:
			if (PyBytes_CheckExact(v) || PyUnicode_CheckExact(v)) {
				store = PyDict_GetItemWithError(f->users, v);
				if (!store && PyErr_Occurred())
					return -1;
			}
		}
	}
	if (!store)
		return Py_TYPE(f->prop)->tp_descr_set(f->prop, obj, v);
	Py_XSETREF(SLOT(obj, f->off), Py_NewRef(store));
	return 0;
}

static PyObject *field_doc(Field *f, void *closure)
{
	(void)closure;
	return PyObject_GetAttrString(f->prop, "__doc__");
}

static PyObject *field_wrapped(Field *f, void *closure)
{
	(void)closure;
	return Py_NewRef(f->prop);
}

static PyGetSetDef field_getset[] = {
	{"__doc__", (getter)field_doc, NULL, NULL, NULL},
	{"__wrapped__", (getter)field_wrapped, NULL, "the field's property", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FieldType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.VmcfField",
	.tp_basicsize = sizeof(Field),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A VMCPARM / VMCMHDR field: common stores in C, the rest by its property.",
	.tp_dealloc = (destructor)field_dealloc,
	.tp_descr_get = (descrgetfunc)field_get,
	.tp_descr_set = (descrsetfunc)field_set,
	.tp_getset = field_getset,
};

/* vmcf_field(prop, slot, kind, users): a Field for property @prop storing
 * into member descriptor @slot (kind 0: uint32, 1: area, 2: userid, 3:
 * uint8, 4: uint16, 5: every store the property's, reads alone in C). */
static PyObject *vmcf_field(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
	(void)mod;
	if (nargs != 4 || !PyObject_TypeCheck(args[0], &PyProperty_Type) ||
	    !Py_IS_TYPE(args[1], &PyMemberDescr_Type) ||
	    ((PyMemberDescrObject *)args[1])->d_member->type != T_OBJECT_EX ||
	    !PyLong_CheckExact(args[2]) || !PyDict_CheckExact(args[3])) {
		PyErr_SetString(PyExc_TypeError,
				"vmcf_field(prop: property, slot: member descriptor, kind: int, users: dict)");
		return NULL;
	}
	long kind = PyLong_AsLong(args[2]);
	if (kind < FIELD_UINT32 || kind > FIELD_READ) {
		PyErr_SetString(PyExc_ValueError, "vmcf_field(): kind is 0 to 5");
		return NULL;
	}
	if (PyType_Ready(&FieldType) < 0)
		return NULL;
	Field *f = PyObject_New(Field, &FieldType);
	if (!f)
		return NULL;
	f->prop = Py_NewRef(args[0]);
	f->owner = (PyTypeObject *)Py_NewRef(PyDescr_TYPE(args[1]));
	f->users = Py_NewRef(args[3]);
	f->off = ((PyMemberDescrObject *)args[1])->d_member->offset;
	f->kind = (int)kind;
	return (PyObject *)f;
}

static PyMethodDef vmcfcall_methods[] = {
	{"bind_vmcf", (PyCFunction)(void (*)(void))bind_vmcf, METH_VARARGS | METH_KEYWORDS,
	 "bind_vmcf(*, diag68, parm, hdr, python, failed): the core's DIAGNOSE X'68' (its "
	 "address), the VMCPARM and VMCMHDR classes, the Python path and what raises a core "
	 "error; once."},
	{"vmcf_field", (PyCFunction)(void (*)(void))vmcf_field, METH_FASTCALL,
	 "vmcf_field(prop, slot, kind, users): a VMCPARM field's descriptor, its reads and "
	 "common stores in C (kind 0: uint32, 1: area, 2: userid, 3: uint8, 4: uint16, 5: "
	 "none), the rest by prop."},
	{"vmcf_state", (PyCFunction)(void (*)(void))vmcf_state, METH_FASTCALL,
	 "vmcf_state(vm, replies, auth): the VMCF state of vm's logon, shared with shmcp.vmcf."},
	/* shmcp.vmcf's own diag68: its doc is the API's */
	{"diag68", (PyCFunction)vmcf_diag68, METH_O,
	 "diag68(parm)\n--\n\n"
	 "DIAGNOSE X'68': perform the subfunction ``parm.func`` for this VM and\n"
	 "return the return code (``vmcf.RC_*``).  Data areas are checked\n"
	 "first (RC 1, RC 6: nothing changes).  Raises NotLoggedOn if this process\n"
	 "is no VM, QueueFull / StorageExhausted when CP's storage is full\n"
	 "(nothing changed)."},
	{NULL, NULL, 0, NULL},
};

int vmcfcall_add(PyObject *m)
{
	if (PyType_Ready(&VmcfRepliesType) < 0 ||
	    PyModule_AddObjectRef(m, "VmcfReplies", (PyObject *)&VmcfRepliesType) < 0)
		return -1;
	return PyModule_AddFunctions(m, vmcfcall_methods);
}
