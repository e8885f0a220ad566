/*
 * test_present_race.c - a message-pending interrupt presented without the
 * control lock (present_pending in iucv_msg.c) while the lock's holders
 * move its message: the presenting thread is stopped at one of its atomic
 * steps and, meanwhile, the message is received, completed, taken and its
 * MSGBLOK reused by the source's next SEND -- what another thread or
 * process may do while the presenter is preempted.  That copy of
 * iucv_msg.c is built here with its atomics hooked (the Makefile leaves
 * the library's copy out of this test).
 *
 *  - stopped after its first look at where the message is: the mark it
 *    then writes must not take away the new message's shown mark (else the
 *    lock's repair queues that message's 09 again, presented twice);
 *  - stopped inside its second look: the message it presents must still
 *    have been on the send queue (never one already received).
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "../core/facility.h"
#include "../core/image.h"

enum { IDLE, AT_MARK, AT_SECOND_LOOK };
static int armed;                  /* where the presenter stops */
static const volatile void *watch; /* the MSGBLOK field it stops at */
static int marked;                 /* AT_SECOND_LOOK: the mark is written */
static void (*meanwhile)(void);    /* what the lock's holders do then */

static void on_load(const volatile void *p)
{
	if (armed == AT_SECOND_LOOK && marked && p == watch) {
		armed = IDLE;
		meanwhile();
	}
}

static void on_mark(const volatile void *p)
{
	if (armed == AT_MARK && p == watch) {
		armed = IDLE;
		meanwhile();
	} else if (armed == AT_SECOND_LOOK) {
		marked = 1;
	}
}

#define __atomic_load_n(p, mo) (on_load(p), __atomic_load_n(p, mo))
#define __atomic_exchange_n(p, v, mo) (on_mark(p), __atomic_exchange_n(p, v, mo))
#define __atomic_compare_exchange_n(p, e, v, w, s, f) \
	(on_mark(p), __atomic_compare_exchange_n(p, e, v, w, s, f))
#include "../iucv/iucv_msg.c"
#undef __atomic_load_n
#undef __atomic_exchange_n
#undef __atomic_compare_exchange_n

#define MESSAGES (0xFu << 6)  /* types 06-09 */

static shmcp_sys *sys;
static int32_t a, b;   /* A sends one-way messages to B */
static uint32_t ga, gb;
static uint16_t apath;

/* A SENDs a one-way message: its id */
static uint32_t send_one(void)
{
	uint8_t pl[40] = { 0 };
	put16(pl, 0, apath);
	pl[SHMCP_IP_FLAGS1] = SHMCP_IPNORPY;
	put32(pl, SHMCP_IP_BFLN1F, 5);
	CHECK(iucv_call(sys, a, ga, SHMCP_IUCV_SEND, pl, (const uint8_t *)"hello", NULL) == 0);
	return ip32(pl, SHMCP_IP_MSGID);
}

/* pop one IUCV record of @slot, not presented: its type, or -1 */
static int pop(int32_t slot, struct shmcp_record *r)
{
	return shmcp_pop(sys, slot, 1 << SHMCP_IUCV, r) == 1 ? r->data[SHMCP_IP_RCODE] : -1;
}

static struct shmcp_msgblok *block_of(const struct shmcp_record *r)
{
	struct shmcp_iucv t;
	shmcp_iucv_tables(sys, &t);
	return &t.msg[ip32(r->data, HINT_OFF) - 1];
}

static uint32_t next_id;  /* the message the source sent meanwhile */

/* B RECEIVEs the message (one-way: completed), A takes its 07 (the MSGBLOK
 * freed), A SENDs the next, which gets that MSGBLOK again. */
static void received_and_reused(void)
{
	uint8_t pl[40] = { 0 }, buf[16];
	struct shmcp_record r;
	put32(pl, SHMCP_IP_BFLN1F, sizeof buf);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
	next_id = send_one();
}

/* ... and B's other thread presents that message's 09 */
static void received_reused_presented(void)
{
	struct shmcp_record r;
	received_and_reused();
	CHECK(pop(b, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING);
	CHECK(shmcp_iucv_present(sys, b, gb, r.data) == 1);
}

/* A holder of the lock dies inside it: the next taker repairs. */
static void holder_dies(void)
{
	pid_t kid = fork();
	if (kid == 0) {
		shmcp_lock(sys);
		_exit(0);
	}
	int status = -1;
	CHECK(kid > 0 && waitpid(kid, &status, 0) == kid && WIFEXITED(status));
	CHECK(shmcp_lock(sys) == 0);
	shmcp_unlock(sys);
}

/* B's presenter stops before its mark; meanwhile the message is received,
 * its block reused and the new message presented.  The late mark must
 * leave that one shown: a repair owes it no second 09. */
static void test_late_mark(void)
{
	struct shmcp_record r;
	uint32_t id = send_one();
	CHECK(pop(b, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING);
	struct shmcp_msgblok *m = block_of(&r);
	armed = AT_MARK;
	watch = &m->shown;
	meanwhile = received_reused_presented;
	CHECK(shmcp_iucv_present(sys, b, gb, r.data) == 0);  /* received meanwhile */
	CHECK(armed == IDLE && m->msgid == next_id && next_id != id);  /* the block reused */
	holder_dies();
	int type = pop(b, &r);
	CHECK(type == -1);  /* no second 09 for the message presented */
	if (type == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING)
		CHECK(shmcp_iucv_present(sys, b, gb, r.data) == 0);
	uint8_t pl[40] = { 0 }, buf[16];
	put32(pl, SHMCP_IP_BFLN1F, sizeof buf);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
	CHECK(ip32(pl, SHMCP_IP_MSGID) == next_id);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
}

/* B's presenter, its mark written, stops inside its second look at the
 * message; meanwhile the message is received and its block reused by a
 * message to B.  The message received is not presented. */
static void test_second_look(void)
{
	struct shmcp_record r;
	send_one();
	CHECK(pop(b, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING);
	struct shmcp_msgblok *m = block_of(&r);
	armed = AT_SECOND_LOOK;
	marked = 0;
	watch = &m->q;
	meanwhile = received_and_reused;
	CHECK(shmcp_iucv_present(sys, b, gb, r.data) == 0);  /* received meanwhile */
	CHECK(armed == IDLE && m->msgid == next_id);          /* the block reused */
	CHECK(pop(b, &r) == SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING);
	CHECK(ip32(r.data, SHMCP_IP_MSGID) == next_id);
	CHECK(shmcp_iucv_present(sys, b, gb, r.data) == 1);
	uint8_t pl[40] = { 0 }, buf[16];
	put32(pl, SHMCP_IP_BFLN1F, sizeof buf);
	CHECK(iucv_call(sys, b, gb, SHMCP_IUCV_RECEIVE, pl, NULL, buf) == 0);
	CHECK(shmcp_next(sys, a, ga, 1 << SHMCP_IUCV, MESSAGES, 0, 0, &r) ==
	      SHMCP_WAIT_PRESENTED);
}

int main(void)
{
	struct shmcp_record r;
	sys = system_with_a_and_b("shmcp-present-race", &a, &ga, &b, &gb);
	uint64_t free0 = shmcp_storage_free(sys);
	apath = iucv_path_a_to_b(sys, a, ga, b, gb);

	test_late_mark();
	test_second_look();
	CHECK(pop(a, &r) == -1 && pop(b, &r) == -1);
	CHECK(shmcp_storage_free(sys) == free0);
	CHECK(shmcp_logoff(sys, a, ga) == 0 && shmcp_logoff(sys, b, gb) == 0);
	shmcp_detach(sys);
	return report("test_present_race");
}
