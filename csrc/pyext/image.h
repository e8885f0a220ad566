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

/* The image of @obj (an Image), or NULL with TypeError. */
uint8_t *image_of(PyObject *obj);

/* A new @type (an Image subclass) whose image is a copy of @image's 40
 * bytes; __init__ is not run. */
PyObject *image_copy(PyTypeObject *type, const uint8_t *image);

/* iucvcall.c: SEND, RECEIVE, REPLY and the binding to the core */
extern PyMethodDef iucvcall_methods[];

#endif
