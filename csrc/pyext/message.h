/* shmcp._iparml.MessageCore (message.c): the Pythonic layer's Message's C
 * base, and what the rest of the module asks of it; the per-message C
 * behind it (inboxes, pumper, sends) shares pythonic.h. */
#ifndef SHMCP_PYEXT_MESSAGE_H
#define SHMCP_PYEXT_MESSAGE_H

#include "machine.h"

/* iucvcall.c: receive_data(plist): RECEIVE the message an 08/09's
 * parameter list names into new bytes (or its condition code as an int;
 * NotImplemented: the Python path's) */
PyObject *receive_data(PyObject *mod, PyObject *plist);

/* iucvcall.c: the same for an image of an 08/09 that is not a parameter
 * list's (a Message's own) */
PyObject *receive_image(uint8_t *image);

/* iucvcall.c: shmcp.iucv's send(plist) and reply(plist) as C calls (no
 * argument parsing): the condition code, NULL with the core's error */
PyObject *iucv_send(PyObject *plist);
PyObject *iucv_reply(PyObject *plist);

/* iucvcall.c: the exception a RECEIVE by @vm that met the core's error
 * @cc (< 0) raises: NULL, with it set */
PyObject *receive_failed(Machine *vm, int cc);

/* iucvcall.c: take_batch(vm, timeout_ns, counts[, message_class]), the
 * module function */
PyObject *take_batch(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);

/* Whether @type is MessageCore or a subclass of it. */
int is_message_type(PyObject *type);

/* A new Message of @type (a MessageCore subclass) for the 08/09 whose
 * image is @image, its path and router not set yet (file_messages sets
 * them); __init__ is not run. */
PyObject *message_of_image(PyTypeObject *type, const uint8_t *image);

/* MessageCore and the module functions of message.c, inbox.c, pumper.c,
 * pathsend.c and receive.c, added to the module @m. */
int message_add(PyObject *m);

#endif
