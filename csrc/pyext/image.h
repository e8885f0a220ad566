/* What the two files of shmcp._iparml share: the parameter list's C base. */
#ifndef SHMCP_PYEXT_IMAGE_H
#define SHMCP_PYEXT_IMAGE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define IMAGE_LEN 40

typedef struct {
	PyObject_HEAD
	PyObject *b;   /* bytearray(IMAGE_LEN) */
	PyObject *cb;
	PyObject *bf1;
	PyObject *bf2;
} Image;

extern PyTypeObject ImageType;

/* The dealloc of the parameter-list classes whose instances are reused
 * (iparml.c): their type is told by it, without a walk of the MRO. */
void image_heap_dealloc(PyObject *self);

/* Whether @obj is an Image (PyObject_TypeCheck, the common classes first). */
static inline int is_image(PyObject *obj)
{
	return Py_TYPE(obj)->tp_dealloc == image_heap_dealloc || PyObject_TypeCheck(obj, &ImageType);
}

/* The unsigned big-endian integer of @size bytes at @p, and its store. */
static inline uint64_t be_get(const uint8_t *p, int size)
{
	uint64_t v = 0;
	for (int i = 0; i < size; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void be_put(uint8_t *p, int size, uint64_t v)
{
	for (int i = size - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* The parameter lists of @type need not be tracked by the cycle collector
 * while they hold only bytes, bytearrays or None (a class that lives as
 * long as the module); image_holds tracks @self once it is given @value
 * (set into one of its references) if that could close a cycle. */
void image_lasting(PyTypeObject *type);
void image_holds(PyObject *self, PyObject *value);

/* The image of @obj (an Image), or NULL with TypeError. */
uint8_t *image_of(PyObject *obj);

/* A new @type (an Image subclass) whose image is a copy of @image's 40
 * bytes; __init__ is not run. */
PyObject *image_copy(PyTypeObject *type, const uint8_t *image);

/* iucvcall.c: SEND, RECEIVE, REPLY and the binding to the core */
extern PyMethodDef iucvcall_methods[];

#endif
