/*
 * shmcp_next: the consumer's one call per interrupt.
 *
 * A handler-free VM waiting for its next interrupt would otherwise cross
 * into the core three times (pop, wait, and IUCV's last word: is the
 * message still there, take the reply); each crossing costs more Python
 * than C.  Here the pop, the wait and the presentation of message
 * interrupts (06-09) happen in one call.  What the VM has masked, and every
 * other type, goes back to Python unpresented (masks, the CMS routing of
 * pending connections and the declared buffer live in the VM's process).
 */
#include <string.h>

#include "../iucv/iucv.h"

/**
 * shmcp_next - the next interrupt of VM @slot (logon @gen) in the
 * facilities of @fmask, waiting up to @timeout_ns (< 0: no limit; 0: do
 * not wait) with a spin of up to @spin_ns first.  An IUCV interrupt whose
 * type is in @present_types (bit n: type n; only 6-9 count) is presented
 * here (shmcp_iucv_present): withdrawn ones are skipped, presented ones
 * come with @out->presented set and the hint cleared.  Call with the GIL
 * released.  Returns SHMCP_WAIT_PRESENTED (such an interrupt: the caller
 * need not read the record's head) or SHMCP_WAIT_READY (any other) with
 * *@out filled, _TIMEOUT (nothing came), _INTR (another signal's handler is
 * due), _DOWN, or SHMCP_E_*.
 */
int shmcp_next(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask, uint32_t present_types,
	       int64_t timeout_ns, int64_t spin_ns, struct shmcp_record *out)
{
	if (!out)
		return SHMCP_E_BADARG;
	const uint32_t messages = 0xFu << SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE;  /* 06-09 */
	present_types &= messages;
	int64_t deadline = timeout_ns < 0 ? -1 : shmcp_now_ns() + timeout_ns;
	for (;;) {
		int rc = shmcp_pop(sys, slot, fmask, out);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			out->presented = 0;
			if (out->facility != SHMCP_IUCV || !(present_types >> out->data[SHMCP_IP_RCODE] & 1))
				return SHMCP_WAIT_READY;
			if (!shmcp_iucv_present(sys, slot, gen, out->data))
				continue;  /* withdrawn */
			memset(out->data + HINT_OFF, 0, 4);
			out->presented = 1;
			return SHMCP_WAIT_PRESENTED;
		}
		int64_t left = deadline < 0 ? -1 : deadline - shmcp_now_ns();
		if (timeout_ns == 0 || (deadline >= 0 && left <= 0))
			return SHMCP_WAIT_TIMEOUT;
		rc = shmcp_wait(sys, slot, gen, fmask, left, spin_ns);
		if (rc == SHMCP_WAIT_TIMEOUT)
			timeout_ns = 0;  /* one last look at the queue */
		else if (rc != SHMCP_WAIT_READY)
			return rc;
	}
}
