/* shmcp._iparml.MessageCore (message.c): the Pythonic layer's Message's C
 * base and its inboxes' per-message steps. */
#ifndef SHMCP_PYEXT_MESSAGE_H
#define SHMCP_PYEXT_MESSAGE_H

#include "machine.h"

/* iucvcall.c: receive_data(plist): RECEIVE the message an 08/09's
 * parameter list names into new bytes (or its condition code as an int;
 * NotImplemented: the Python path's) */
PyObject *receive_data(PyObject *mod, PyObject *plist);

/* MessageCore and its module functions, added to the module @m. */
int message_add(PyObject *m);

#endif
