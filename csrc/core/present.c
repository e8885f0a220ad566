/*
 * shmcp_next: the consumer's one call per interrupt.
 *
 * A handler-free VM waiting for its next interrupt would otherwise cross
 * into the core three times (pop, wait, and its facility's last word: for
 * IUCV, is the message still there, take the reply); each crossing costs
 * more Python than C.  Here the pop, the wait and the facility's
 * presentation of the interrupt (core/facility.h: IUCV presents its message
 * interrupts, 06-09) happen in one call.  What the facility does not
 * present goes back to Python as is (masks, the CMS routing of pending
 * connections and the declared buffer live in the VM's process).
 */
#include "facility.h"

/**
 * shmcp_next - the next interrupt of VM @slot (logon @gen) in the
 * facilities of @fmask, waiting up to @timeout_ns (< 0: no limit; 0: do
 * not wait) with a spin of up to @spin_ns first.  Its facility presents it
 * if @present_types asks for it (for IUCV: bit n, type n; only 6-9 count,
 * shmcp_iucv_present): withdrawn ones are skipped, presented ones come
 * with @out->presented set (IUCV: and the hint cleared).  Call with the GIL
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
	/* no clock read for a look that does not wait: a batch makes one per
	 * record, and the C base's first take one per interrupt */
	int64_t deadline = timeout_ns <= 0 ? -1 : shmcp_now_ns() + timeout_ns;
	for (;;) {
		int rc = shmcp_pop(sys, slot, fmask, out);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			const struct shmcp_facility *fac = shmcp_facilities[out->facility];
			out->presented = 0;
			if (!fac->present)
				return SHMCP_WAIT_READY;
			rc = fac->present(sys, slot, gen, present_types, out);
			if (rc == SHMCP_SHOW_WITHDRAWN)
				continue;
			if (rc != SHMCP_SHOW_PRESENTED)
				return SHMCP_WAIT_READY;
			out->presented = 1;
			return SHMCP_WAIT_PRESENTED;
		}
		if (timeout_ns == 0)
			return SHMCP_WAIT_TIMEOUT;
		int64_t left = deadline < 0 ? -1 : deadline - shmcp_now_ns();
		if (deadline >= 0 && left <= 0)
			return SHMCP_WAIT_TIMEOUT;
		rc = shmcp_wait(sys, slot, gen, fmask, left, spin_ns);
		if (rc == SHMCP_WAIT_TIMEOUT)
			timeout_ns = 0;  /* one last look at the queue */
		else if (rc != SHMCP_WAIT_READY)
			return rc;
	}
}
