/*
 * msg.c - the *MSG CP system service (docs/design.md, "*MSG"): CP's side of
 * MSG and of SMSG routed through IUCV.  A VM CONNECTs to *MSG (iucv.c,
 * connect_msg); shmcp_msg_deliver sends it a one-way IUCV message whose
 * target class is the message class and whose text starts with the
 * sender's userid.  See docs/decisions.md.
 */
#include <string.h>

#include "iucv.h"

/**
 * shmcp_msg_deliver - CP sends @text (@len bytes, at most
 * SHMCP_MSG_TEXT_MAX) from @from_userid8 to logged-on @to_userid8 on its
 * *MSG path, as class @msgclass (SHMCP_MSG_CLASS_*, 1-8).  Takes the
 * control lock; the doorbell rings after it.
 * Returns 0; SHMCP_E_NOTLOGGED; SHMCP_E_NOMSGPATH (no DECLARE BUFFER or no
 * path to *MSG: the caller may fall back or report "not receiving");
 * SHMCP_E_MSGQUIESCED; _NOSTORAGE, _QFULL, _BADARG, _DOWN, _LOCK.
 * Nothing is delivered unless it returns 0.
 */
int shmcp_msg_deliver(shmcp_sys *sys, const char *from_userid8, const char *to_userid8,
		      uint32_t msgclass, const uint8_t *text, uint32_t len)
{
	if (!sys || !from_userid8 || !to_userid8 || (len && !text) || len > SHMCP_MSG_TEXT_MAX ||
	    msgclass < 1 || msgclass > SHMCP_MSG_CLASS_MAX)
		return SHMCP_E_BADARG;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	struct shmcp_iucv t;
	int32_t slot;
	uint32_t gen;
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	shmcp_iucv_tables(sys, &t);
	int end;
	struct shmcp_path *p = NULL;
	if (shmcp_is_down(sys))
		rc = SHMCP_E_DOWN;
	else if (shmcp_find(sys, to_userid8, &slot, &gen))
		rc = SHMCP_E_NOTLOGGED;
	else if (!shmcp_iucv_declared(sys, &t, slot, gen) ||
		 !(p = shmcp_iucv_msg_path(&t, slot, &end)))
		rc = SHMCP_E_NOMSGPATH;
	else
		rc = shmcp_iucv_cp_send(sys, &t, p, end, msgclass, (const uint8_t *)from_userid8,
					SHMCP_USERID_LEN, text, len, &bells);
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	return rc;
}
