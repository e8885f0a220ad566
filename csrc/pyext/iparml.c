/*
 * shmcp._iparml: the parameter-list fields at C speed.
 *
 * A program touches about a dozen IPARML fields per IUCV round trip; as
 * Python descriptors each access costs a Python frame (~0.13 us), together
 * more than the core's calls.  This module gives shmcp/plist.py what it
 * builds its classes on, with the same checks and messages:
 *
 *   Image        base of Iparml: _b (bytearray, the 40-byte image), _cb
 *                (the core's view of _b), _bf1, _bf2 (the Python buffers)
 *   Field        an unsigned big-endian integer of 1, 2 or 4 bytes in _b
 *   Buffer       bf1 / bf2: a buffer whose size becomes its length field
 *   Image._of    a parameter list from a 40-byte image, without __init__
 *
 * A CPython extension beside the cffi core (docs/decisions.md): cffi calls C
 * from Python but cannot define a Python type.
 */
#include "machine.h"
#include "vmcfcall.h"
#include <structmember.h>
#include "message.h"

uint8_t *image_of(PyObject *obj)
{
	if (!is_image(obj)) {
		PyErr_Format(PyExc_TypeError, "not a parameter list: %s", Py_TYPE(obj)->tp_name);
		return NULL;
	}
	PyObject *b = ((Image *)obj)->b;
	if (!b || !PyByteArray_CheckExact(b) || PyByteArray_GET_SIZE(b) != IMAGE_LEN) {
		PyErr_SetString(PyExc_TypeError, "parameter list has no 40-byte image (_b)");
		return NULL;
	}
	return (uint8_t *)PyByteArray_AS_STRING(b);
}

static PyObject *zero_image(void)
{
	PyObject *b = PyByteArray_FromStringAndSize(NULL, IMAGE_LEN);
	if (b)
		memset(PyByteArray_AS_STRING(b), 0, IMAGE_LEN);
	return b;
}

/* -- Image's free list ------------------------------------------------------
 *
 * Every interrupt shown from C is a new parameter list, and the seed
 * programs build one per call: an object and its 40-byte bytearray (two
 * allocations and the GC's count) each time, dropped a moment later.  A
 * list dropped keeps its memory here, with its bytearray when nobody else
 * holds that; the next one of a class of the same layout takes it.
 */
#define FREE_MAX 64
static Image *free_images[FREE_MAX];
static int nfree;

/* Whether @type's instances are exactly an Image (no dict, no weak
 * references, no slots of their own) allocated the default way, with no
 * finalizer (the GC marks an object finalized in memory it would keep). */
static int reusable(PyTypeObject *type)
{
	unsigned long extra = 0;
#ifdef Py_TPFLAGS_MANAGED_DICT
	extra |= Py_TPFLAGS_MANAGED_DICT;
#endif
#ifdef Py_TPFLAGS_MANAGED_WEAKREF
	extra |= Py_TPFLAGS_MANAGED_WEAKREF;
#endif
	return type->tp_basicsize == (Py_ssize_t)sizeof(Image) && !type->tp_itemsize &&
	       !type->tp_dictoffset && !type->tp_weaklistoffset && !(type->tp_flags & extra) &&
	       type->tp_alloc == PyType_GenericAlloc && type->tp_free == PyObject_GC_Del &&
	       !type->tp_finalize && !type->tp_del;
}

/* -- The cycle collector ----------------------------------------------------
 *
 * A parameter list closes no reference cycle while its four references
 * are bytes, bytearrays or None (they hold nothing) and its class lives
 * as long as the module (the classes bind_iucv names: the interrupts'
 * and the programs' own): such a list is not tracked by the collector.
 * Tracking every interrupt -- one per message at each end of a stream,
 * linked into the youngest generation and out again -- cost ~10 % of a
 * one-way message's CPU (bench/NOTES.md).  A list is tracked from the
 * moment it is given anything else (image_holds).
 */
static PyTypeObject *lasting[4];
static int nlasting;

void image_lasting(PyTypeObject *type)
{
	for (int i = 0; i < nlasting; i++)
		if (lasting[i] == type)
			return;
	if (nlasting < (int)(sizeof lasting / sizeof lasting[0]))
		lasting[nlasting++] = (PyTypeObject *)Py_NewRef(type);
}

static int untracked_kind(PyTypeObject *type)
{
	for (int i = 0; i < nlasting; i++)
		if (lasting[i] == type)
			return reusable(type);
	return 0;
}

static int holds_nothing(PyObject *o)
{
	return !o || o == Py_None || PyBytes_CheckExact(o) || PyByteArray_CheckExact(o);
}

void image_holds(PyObject *self, PyObject *value)
{
	if (!holds_nothing(value) && !PyObject_GC_IsTracked(self))
		PyObject_GC_Track(self);
}

/* A new @type with every slot NULL but _b, which may hold a 40-byte
 * bytearray of nobody else's (its bytes stale); tracked by the collector
 * unless its class is one whose lists need not be. */
static Image *image_alloc(PyTypeObject *type)
{
	int untracked = untracked_kind(type);
	if (!nfree || !reusable(type)) {
		Image *self = (Image *)type->tp_alloc(type, 0);
		if (self && untracked)
			PyObject_GC_UnTrack(self);
		return self;
	}
	Image *self = free_images[--nfree];
	PyObject_Init((PyObject *)self, type);  /* a heap type gains its reference */
	if (!untracked)
		PyObject_GC_Track(self);
	return self;
}

static PyObject *Image_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	(void)args;
	(void)kwds;
	Image *self = image_alloc(type);
	if (!self)
		return NULL;
	if (self->b) {
		memset(PyByteArray_AS_STRING(self->b), 0, IMAGE_LEN);
	} else if (!(self->b = zero_image())) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static int Image_traverse(Image *self, visitproc visit, void *arg)
{
	Py_VISIT(self->b);
	Py_VISIT(self->cb);
	Py_VISIT(self->bf1);
	Py_VISIT(self->bf2);
	return 0;
}

static int Image_clear(Image *self)
{
	Py_CLEAR(self->b);
	Py_CLEAR(self->cb);
	Py_CLEAR(self->bf1);
	Py_CLEAR(self->bf2);
	return 0;
}

/* (a heap subclass's own dealloc releases its type reference) */
static void Image_dealloc(Image *self)
{
	PyObject_GC_UnTrack(self);
	Py_CLEAR(self->cb);  /* first: the core's view holds _b */
	Py_CLEAR(self->bf1);
	Py_CLEAR(self->bf2);
	if (nfree >= FREE_MAX || !reusable(Py_TYPE(self))) {
		Py_CLEAR(self->b);
		Py_TYPE(self)->tp_free((PyObject *)self);
		return;
	}
	PyObject *b = self->b;
	if (b && !(PyByteArray_CheckExact(b) && Py_REFCNT(b) == 1 && PyByteArray_GET_SIZE(b) == IMAGE_LEN))
		Py_CLEAR(self->b);  /* someone else's too: it goes its own way */
	free_images[nfree++] = self;
}

/* The dealloc of a parameter-list class whose instances are reusable
 * (Image_init_subclass): Image_dealloc and the type's reference, as
 * CPython's generic dealloc of a subclass would do around it, without its
 * walk of the bases, trashcan and slot checks (a parameter list is
 * dropped at every interrupt).  Also what that generic dealloc calls as
 * the base's for a subclass of such a class (then the type's reference is
 * this one's to release too). */
void image_heap_dealloc(PyObject *self)
{
	PyTypeObject *type = Py_TYPE(self);
	if (type->tp_finalize) {  /* a __del__ given to the class later */
		if (!PyObject_GC_IsTracked(self))
			PyObject_GC_Track(self);  /* it may keep the list */
		if (PyObject_CallFinalizerFromDealloc(self) < 0)
			return;
	}
	Image_dealloc((Image *)self);
	Py_DECREF(type);
}

PyObject *image_copy(PyTypeObject *type, const uint8_t *image)
{
	Image *self = image_alloc(type);
	if (!self)
		return NULL;
	if (self->b)
		memcpy(PyByteArray_AS_STRING(self->b), image, IMAGE_LEN);
	else if (!(self->b = PyByteArray_FromStringAndSize((const char *)image, IMAGE_LEN)))
		Py_CLEAR(self);
	return (PyObject *)self;
}

/* Image._of(image): an instance of this class whose image is a copy of
 * @image (exactly 40 bytes); __init__ is not run. */
static PyObject *Image_of(PyObject *cls, PyObject *image)
{
	Py_buffer view;
	if (PyObject_GetBuffer(image, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	PyObject *self = NULL;
	if (view.len != IMAGE_LEN)
		PyErr_Format(PyExc_ValueError, "an IPARML is %d bytes, not %zd", IMAGE_LEN, view.len);
	else
		self = image_copy((PyTypeObject *)cls, view.buf);
	PyBuffer_Release(&view);
	return self;
}

/* Image(**fields): each field set through its descriptor, as an attribute
 * would be, bf1len / bf2len last (they override the size bf1 / bf2 gave);
 * a name not in the class's _fields (nor bf1, bf2) is a TypeError.  In C
 * because the seed programs build a parameter list for every call. */
static PyObject *s_fields, *s_bf1, *s_bf2, *s_bf1len, *s_bf2len;  /* interned */

/* Whether @name is @known (interned): by identity, by value only when
 * @name is not interned itself. */
static int same_name(PyObject *name, PyObject *known)
{
	return name == known || (!PyUnicode_CHECK_INTERNED(name) && !PyUnicode_Compare(name, known));
}

/* Whether @name is in the tuple @fields: by identity first (keyword names
 * and the class's field names are interned), then by value. */
static int is_field(PyObject *fields, PyObject *name)
{
	for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(fields); i++)
		if (PyTuple_GET_ITEM(fields, i) == name)
			return 1;
	return PySequence_Contains(fields, name);
}

static int unknown_field(PyObject *self, PyObject *name, PyObject *fields)
{
	PyObject *sep = PyUnicode_FromString(", ");
	PyObject *shown = sep ? PyUnicode_Join(sep, fields) : NULL;
	if (shown)
		PyErr_Format(PyExc_TypeError, "%s has no field %R; fields: %U",
			     Py_TYPE(self)->tp_name, name, shown);
	Py_XDECREF(sep);
	Py_XDECREF(shown);
	return -1;
}

/* self.@name = @value, through the class's descriptor directly when
 * setting an attribute would only call it. */
static int set_attr(PyObject *self, PyObject *name, PyObject *value)
{
	PyTypeObject *type = Py_TYPE(self);
	if (type->tp_setattro == PyObject_GenericSetAttr) {
		PyObject *descr = _PyType_Lookup(type, name);  /* borrowed */
		descrsetfunc set = descr ? Py_TYPE(descr)->tp_descr_set : NULL;
		if (set)
			return set(descr, self, value);
	}
	return PyObject_SetAttr(self, name, value);
}

/* The fields of a new parameter list from the @n keywords @names[i] =
 * @values[i] (Image(**fields)'s rules); 0 or -1 with an exception. */
static int set_fields(PyObject *self, PyObject *const *names, PyObject *const *values, Py_ssize_t n)
{
	PyObject *fields = _PyType_Lookup(Py_TYPE(self), s_fields);  /* borrowed */
	if (!fields || !PyTuple_Check(fields)) {
		PyErr_Format(PyExc_TypeError, "%s has no _fields tuple", Py_TYPE(self)->tp_name);
		return -1;
	}
	Py_INCREF(fields);
	PyObject *len1 = NULL, *len2 = NULL;  /* set last */
	int rc = 0;
	for (Py_ssize_t i = 0; !rc && i < n; i++) {
		PyObject *name = names[i];
		if (!PyUnicode_Check(name)) {
			PyErr_SetString(PyExc_TypeError, "field names are strings");
			rc = -1;
		} else if (same_name(name, s_bf1len)) {
			len1 = values[i];
		} else if (same_name(name, s_bf2len)) {
			len2 = values[i];
		} else {
			int known = name == s_bf1 || name == s_bf2 ? 1 : is_field(fields, name);
			if (!known && (same_name(name, s_bf1) || same_name(name, s_bf2)))
				known = 1;
			rc = known < 0 ? -1 : !known ? unknown_field(self, name, fields)
						   : set_attr(self, name, values[i]);
		}
	}
	if (!rc && len1)
		rc = set_attr(self, s_bf1len, len1);
	if (!rc && len2)
		rc = set_attr(self, s_bf2len, len2);
	Py_DECREF(fields);
	return rc;
}

static int positional(PyObject *self)
{
	PyErr_Format(PyExc_TypeError, "%s() takes keyword arguments only (the fields)",
		     Py_TYPE(self)->tp_name);
	return -1;
}

static int Image_init(PyObject *self, PyObject *args, PyObject *kwds)
{
	if (PyTuple_GET_SIZE(args))
		return positional(self);
	Py_ssize_t n = kwds ? PyDict_GET_SIZE(kwds) : 0;
	if (!n)
		return 0;
	PyObject *small[16] = {NULL}, **pairs = n <= 8 ? small : PyMem_New(PyObject *, 2 * n);
	if (!pairs) {
		PyErr_NoMemory();
		return -1;
	}
	PyObject *name, *value;
	Py_ssize_t pos = 0, i = 0;
	while (i < n && PyDict_Next(kwds, &pos, &name, &value)) {  /* borrowed: kwds is not changed */
		pairs[i] = name;
		pairs[n + i++] = value;
	}
	int rc = set_fields(self, pairs, pairs + n, i);
	if (pairs != small)
		PyMem_Free(pairs);
	return rc;
}

/* Calling a parameter-list class: Image_new and Image_init straight from
 * the call's arguments (no tuple, no keyword dict).  A class whose
 * __new__ or __init__ is not Image's is called the usual way. */
static PyObject *Image_vectorcall(PyObject *cls, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	PyTypeObject *type = (PyTypeObject *)cls;
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	if (type->tp_new != Image_new || type->tp_init != Image_init || nargs) {
		PyObject *tuple = PyTuple_New(nargs), *kwds = NULL;
		for (Py_ssize_t i = 0; tuple && i < nargs; i++)
			PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
		Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
		if (tuple && nkw && (kwds = PyDict_New()))
			for (Py_ssize_t i = 0; kwds && i < nkw; i++)
				if (PyDict_SetItem(kwds, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
					Py_CLEAR(kwds);
		PyObject *self = tuple && (!nkw || kwds) ? PyType_Type.tp_call(cls, tuple, kwds) : NULL;
		Py_XDECREF(tuple);
		Py_XDECREF(kwds);
		return self;
	}
	PyObject *self = Image_new(type, NULL, NULL);
	if (self && kwnames && set_fields(self, &PyTuple_GET_ITEM(kwnames, 0), args,
					  PyTuple_GET_SIZE(kwnames)) < 0)
		Py_CLEAR(self);
	return self;
}

/* Image.__init_subclass__: the parameter-list classes are called through
 * Image_vectorcall (a type's vectorcall is not inherited), and those whose
 * instances are reusable are dropped by image_heap_dealloc. */
static PyObject *Image_init_subclass(PyObject *cls, PyObject *args, PyObject *kwds)
{
	if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
		PyErr_Format(PyExc_TypeError, "%s.__init_subclass__() takes no arguments",
			     ((PyTypeObject *)cls)->tp_name);
		return NULL;
	}
	((PyTypeObject *)cls)->tp_vectorcall = Image_vectorcall;
	/* only a heap class: its lists hold a reference to it, which that
	 * dealloc releases (Image itself, called as Image.__init_subclass__(),
	 * is static: its count would run down) */
	if (PyType_HasFeature((PyTypeObject *)cls, Py_TPFLAGS_HEAPTYPE) &&
	    reusable((PyTypeObject *)cls))
		((PyTypeObject *)cls)->tp_dealloc = image_heap_dealloc;
	Py_RETURN_NONE;
}

static PyMethodDef Image_methods[] = {
	{"_of", Image_of, METH_O | METH_CLASS,
	 "The parameter list whose image is a copy of these 40 bytes (no __init__)."},
	{"__init_subclass__", (PyCFunction)(void (*)(void))Image_init_subclass,
	 METH_VARARGS | METH_KEYWORDS | METH_CLASS,
	 "A parameter-list class is called straight from its call's arguments."},
	{NULL, NULL, 0, NULL},
};

/* _b, _cb, _bf1, _bf2: as plain members (None when unset, deletable), but
 * what is stored may make the list one the collector must track. */
static PyObject *Image_get_ref(Image *self, void *off)
{
	PyObject *v = *(PyObject **)((char *)self + (size_t)off);
	return Py_NewRef(v ? v : Py_None);
}

static int Image_set_ref(Image *self, PyObject *value, void *off)
{
	PyObject **slot = (PyObject **)((char *)self + (size_t)off);
	Py_XSETREF(*slot, Py_XNewRef(value));
	image_holds((PyObject *)self, value);
	return 0;
}

#define IMAGE_REF(name, field, doc) \
	{name, (getter)Image_get_ref, (setter)Image_set_ref, doc, (void *)offsetof(Image, field)}
static PyGetSetDef Image_getset[] = {
	IMAGE_REF("_b", b, "the 40-byte image (a bytearray)"),
	IMAGE_REF("_cb", cb, "the core's view of _b, made once"),
	IMAGE_REF("_bf1", bf1, "bf1's buffer"),
	IMAGE_REF("_bf2", bf2, "bf2's buffer"),
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ImageType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.Image",
	.tp_doc = "The 40 bytes of a parameter list and its two buffers.",
	.tp_basicsize = sizeof(Image),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	.tp_new = Image_new,
	.tp_init = Image_init,
	.tp_vectorcall = Image_vectorcall,
	.tp_traverse = (traverseproc)Image_traverse,
	.tp_clear = (inquiry)Image_clear,
	.tp_dealloc = (destructor)Image_dealloc,
	.tp_methods = Image_methods,
	.tp_getset = Image_getset,
};

/* -- Field: an unsigned big-endian integer ------------------------------ */

typedef struct {
	PyObject_HEAD
	Py_ssize_t off;
	int size;
	PyObject *name;  /* set by __set_name__, for messages */
} Field;

static PyObject *Field_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"off", "size", NULL};
	Py_ssize_t off;
	int size;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "ni", kwlist, &off, &size))
		return NULL;
	if (size != 1 && size != 2 && size != 4) {
		PyErr_Format(PyExc_ValueError, "a field is 1, 2 or 4 bytes, not %d", size);
		return NULL;
	}
	if (off < 0 || off + size > IMAGE_LEN) {
		PyErr_Format(PyExc_ValueError, "a field at %zd of %d bytes is outside the image", off, size);
		return NULL;
	}
	Field *self = (Field *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->off = off;
	self->size = size;
	self->name = PyUnicode_FromString("?");
	if (!self->name)
		Py_CLEAR(self);
	return (PyObject *)self;
}

static void Field_dealloc(Field *self)
{
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Field_set_name(Field *self, PyObject *args)
{
	PyObject *owner, *name;
	if (!PyArg_ParseTuple(args, "OU", &owner, &name))
		return NULL;
	Py_INCREF(name);
	Py_SETREF(self->name, name);
	Py_RETURN_NONE;
}

static PyObject *Field_get(Field *self, PyObject *obj, PyObject *type)
{
	(void)type;
	if (!obj || obj == Py_None) {
		Py_INCREF(self);
		return (PyObject *)self;
	}
	const uint8_t *p = image_of(obj);
	if (!p)
		return NULL;
	return PyLong_FromUnsignedLong((unsigned long)be_get(p + self->off, self->size));
}

static int Field_set(Field *self, PyObject *obj, PyObject *value)
{
	const char *cls = Py_TYPE(obj)->tp_name;
	if (!value) {
		PyErr_Format(PyExc_AttributeError, "%s.%U cannot be deleted", cls, self->name);
		return -1;
	}
	if (!PyLong_Check(value) || PyBool_Check(value)) {
		PyErr_Format(PyExc_TypeError, "%s.%U must be an int, not %s", cls, self->name,
			     Py_TYPE(value)->tp_name);
		return -1;
	}
	unsigned long long max = (1ULL << (8 * self->size)) - 1;
	unsigned long long v = PyLong_AsUnsignedLongLong(value);  /* negative: OverflowError */
	if (v == (unsigned long long)-1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError))
			return -1;
		PyErr_Clear();
		v = max + 1;
	}
	if (v > max) {
		PyErr_Format(PyExc_ValueError, "%s.%U=%S is out of range 0..%llu", cls, self->name,
			     value, max);
		return -1;
	}
	uint8_t *p = image_of(obj);
	if (!p)
		return -1;
	be_put(p + self->off, self->size, v);
	return 0;
}

static PyMethodDef Field_methods[] = {
	{"__set_name__", (PyCFunction)Field_set_name, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyMemberDef Field_members[] = {
	{"off", T_PYSSIZET, offsetof(Field, off), READONLY, "offset in the image"},
	{"size", T_INT, offsetof(Field, size), READONLY, "bytes"},
	{"name", T_OBJECT, offsetof(Field, name), READONLY, "the attribute's name"},
	{NULL, 0, 0, 0, NULL},
};

static PyTypeObject FieldType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.Field",
	.tp_doc = "Field(off, size): an unsigned big-endian integer of a parameter list's image.",
	.tp_basicsize = sizeof(Field),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = Field_new,
	.tp_dealloc = (destructor)Field_dealloc,
	.tp_descr_get = (descrgetfunc)Field_get,
	.tp_descr_set = (descrsetfunc)Field_set,
	.tp_methods = Field_methods,
	.tp_members = Field_members,
};

/* -- Buffer: bf1 / bf2 ---------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	int which;              /* 1: bf1, 2: bf2 */
	Py_ssize_t length_off;  /* its length field (fullword) */
	PyObject *name;
} Buffer;

static PyObject *Buffer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"which", "length_off", NULL};
	int which;
	Py_ssize_t off;
	if (!PyArg_ParseTupleAndKeywords(args, kwds, "in", kwlist, &which, &off))
		return NULL;
	if ((which != 1 && which != 2) || off < 0 || off + 4 > IMAGE_LEN) {
		PyErr_SetString(PyExc_ValueError, "Buffer(which=1 or 2, length_off in the image)");
		return NULL;
	}
	Buffer *self = (Buffer *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->which = which;
	self->length_off = off;
	self->name = PyUnicode_FromFormat("bf%d", which);
	if (!self->name)
		Py_CLEAR(self);
	return (PyObject *)self;
}

static void Buffer_dealloc(Buffer *self)
{
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject **buffer_slot(Buffer *self, PyObject *obj)
{
	if (!is_image(obj)) {
		PyErr_Format(PyExc_TypeError, "not a parameter list: %s", Py_TYPE(obj)->tp_name);
		return NULL;
	}
	return self->which == 1 ? &((Image *)obj)->bf1 : &((Image *)obj)->bf2;
}

static PyObject *Buffer_get(Buffer *self, PyObject *obj, PyObject *type)
{
	(void)type;
	if (!obj || obj == Py_None) {
		Py_INCREF(self);
		return (PyObject *)self;
	}
	PyObject **slot = buffer_slot(self, obj);
	if (!slot)
		return NULL;
	PyObject *v = *slot ? *slot : Py_None;
	Py_INCREF(v);
	return v;
}

/* Setting a buffer sets its length field to its size; None leaves it. */
static int Buffer_set(Buffer *self, PyObject *obj, PyObject *value)
{
	const char *cls = Py_TYPE(obj)->tp_name;
	if (!value) {
		PyErr_Format(PyExc_AttributeError, "%s.%U cannot be deleted", cls, self->name);
		return -1;
	}
	PyObject **slot = buffer_slot(self, obj);
	if (!slot)
		return -1;
	if (value != Py_None) {
		Py_ssize_t size;
		if (PyBytes_CheckExact(value)) {
			size = PyBytes_GET_SIZE(value);
		} else if (PyByteArray_CheckExact(value)) {
			size = PyByteArray_GET_SIZE(value);
		} else {
			Py_buffer view;
			if (PyObject_GetBuffer(value, &view, PyBUF_FULL_RO) < 0) {
				PyErr_Format(PyExc_TypeError, "%s.%U must be a bytes-like object or None, not %s",
					     cls, self->name, Py_TYPE(value)->tp_name);
				return -1;
			}
			size = view.len;
			PyBuffer_Release(&view);
		}
		if (size > 0x7FFFFFFF) {
			PyErr_Format(PyExc_ValueError, "%s.%U is larger than 2 GiB", cls, self->name);
			return -1;
		}
		uint8_t *p = image_of(obj);
		if (!p)
			return -1;
		be_put(p + self->length_off, 4, (uint64_t)size);
	}
	Py_INCREF(value);
	Py_XSETREF(*slot, value);
	image_holds(obj, value);
	return 0;
}

static PyMemberDef Buffer_members[] = {
	{"length_off", T_PYSSIZET, offsetof(Buffer, length_off), READONLY, "its length field's offset"},
	{"name", T_OBJECT, offsetof(Buffer, name), READONLY, "bf1 or bf2"},
	{NULL, 0, 0, 0, NULL},
};

static PyTypeObject BufferType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "shmcp._iparml.Buffer",
	.tp_doc = "Buffer(which, length_off): bf1 or bf2; setting it sets its length field.",
	.tp_basicsize = sizeof(Buffer),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = Buffer_new,
	.tp_dealloc = (destructor)Buffer_dealloc,
	.tp_descr_get = (descrgetfunc)Buffer_get,
	.tp_descr_set = (descrsetfunc)Buffer_set,
	.tp_members = Buffer_members,
};

static struct PyModuleDef iparml_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "shmcp._iparml",
	.m_doc = "The parameter-list fields, VirtualMachine's C base and IUCV's message calls at C "
		 "speed; loaded and bound only by shmcp/_native.py.",
	.m_size = -1,
	.m_methods = iucvcall_methods,
};

#ifndef SHMCP_BUILD_VERSION
#error "the build passes SHMCP_BUILD_VERSION (the package version)"
#endif

PyMODINIT_FUNC PyInit__iparml(void)
{
	if (!(s_fields = PyUnicode_InternFromString("_fields")) ||
	    !(s_bf1 = PyUnicode_InternFromString("bf1")) || !(s_bf2 = PyUnicode_InternFromString("bf2")) ||
	    !(s_bf1len = PyUnicode_InternFromString("bf1len")) ||
	    !(s_bf2len = PyUnicode_InternFromString("bf2len")))
		return NULL;
	PyTypeObject *types[] = {&ImageType, &FieldType, &BufferType};
	const char *names[] = {"Image", "Field", "Buffer"};
	PyObject *m = PyModule_Create(&iparml_module);
	if (!m)
		return NULL;
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0) {
			Py_DECREF(m);
			return NULL;
		}
	}
	if (PyModule_AddIntConstant(m, "IMAGE_LEN", IMAGE_LEN) < 0 ||
	    PyModule_AddStringConstant(m, "__version__", SHMCP_BUILD_VERSION) < 0 || machine_add(m) < 0 ||
	    vmcfcall_add(m) < 0 || sigpause_add(m) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	if (message_add(m) < 0) {  /* message.c: the Pythonic layer's Message */
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
