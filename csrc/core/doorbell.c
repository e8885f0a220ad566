/*
 * doorbell.c - waking a VM, and a VM waiting to be woken.
 *
 * The queue carries the data; a doorbell only says "look".  A VM sleeps
 * on a futex word in its table entry (thread_bell), any of its threads,
 * unless it is a main thread with a handler to run: that one sleeps in
 * sigtimedwait and is rung by a signal (SIGUSR1 for IUCV, SIGUSR2 for
 * VMCF), which is also how an established, unblocked handler is
 * interrupted wherever its VM is.  Three words per facility queue decide
 * whether a producer rings:
 *
 *   want   why the consumer needs a doorbell: SHMCP_WANT_THREAD once per
 *          futex sleeper (a count), SHMCP_WANT_SLEEPING while the main
 *          thread sleeps in sigtimedwait, SHMCP_WANT_ASYNC while a handler
 *          is established and unblocked.  Zero: the consumer will look at
 *          its queue by itself (spinning, or busy in a handler-free
 *          program): no doorbell;
 *   bell   a signal is already in flight: no second one.  The consumer
 *          clears it before it looks at the queue;
 *   thread_bell (one per VM) the futex: bit 0 rung since the last arming,
 *          the bits above count armings.
 *
 * Producer: publish record; full fence; read want; with a futex sleeper,
 * fetch_or(thread_bell, 1) and FUTEX_WAKE unless bit 0 was set already;
 * with SLEEPING or ASYNC, xchg(bell, 1) and signal unless it was 1.
 * Futex sleeper: want += THREAD; then per sleep: arm (clear bit 0, count
 * one: the word changes), full fence, look at the queue, FUTEX_WAIT on the
 * armed value.  Signal sleeper: set SLEEPING, clear bell, full fence,
 * look, sigtimedwait.  Either the producer sees the consumer's store or
 * the consumer sees the record (the Dekker pattern), and a ring after the
 * look changes the futex word or queues the signal before the sleep, so
 * no wake-up is ever lost.  Another sleeper's arming also changes the
 * word: at worst a spurious look, never a sleeper left behind a wake.
 *
 * Why two sleeps.  A futex wake-up costs less than a signal's delivery
 * (no sigqueue, sighand lock or permission check at the producer, no
 * signal mask to block and restore around the sleep; fan-in:
 * bench/NOTES.md), so every handler-free sleep uses it.  A main thread
 * still wakes for Ctrl-C: a caught signal interrupts FUTEX_WAIT (EINTR,
 * SHMCP_WAIT_INTR; with a timeout the kernel never restarts it).  One
 * caught between the look and the sleep is seen only at the slice's end
 * (SHMCP_WAIT_SLICE): FUTEX_WAIT cannot unblock signals atomically, as
 * sigtimedwait's mask does.  That window is a few instructions wide and
 * nothing aims at it, so Ctrl-C pays it by chance at most.  A handler's
 * signal would aim at it: the producer rings just as the handler that
 * ran for the last interrupt returns and its VM waits again.  So a main
 * thread whose VM has any unblocked handler keeps sigtimedwait, with every
 * catchable signal blocked across the look: its waited facilities'
 * doorbells are taken there, handler-free; another facility's stays
 * pending for its handler until the wait ends, as do Ctrl-C's.  A handler
 * established or unblocked by another thread while the main thread sleeps
 * on the futex sets ASYNC: the next record also signals, the signal
 * interrupts the futex wait (or, in the window, the slice ends it), and
 * the next wait chooses again.
 *
 * Before it sleeps, a waiter may spin on its queue (up to spin_ns), but
 * only while no VM lacks a core for it: the segment keeps one bit per VM
 * that is running (anywhere but asleep in shmcp_wait, or just woken by a
 * doorbell), and a waiter spins only while those bits number no more than
 * the cores.  With more, a spinner holds a core that a running VM -- most
 * likely the one it waits for -- needs (fan-in: 8 clients, 1 server, 2
 * cores).  The bits are hints: no wake-up depends on them.  A VM that
 * blocks elsewhere (sleep, select) after a wait still counts, so the spin
 * errs towards sleeping; one that never waits (a pure sender) does not.
 *
 * Signals go through a pidfd opened after checking the process's start
 * time, so a recycled pid can never receive SIGUSR1 (whose default action
 * kills).  They are directed at the VM's main thread, where Python runs
 * its handlers.  A futex needs no pid at all.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "facility.h"

#ifndef PIDFD_SIGNAL_THREAD
#define PIDFD_SIGNAL_THREAD (1UL << 0)  /* Linux 6.9 */
#endif

/**
 * shmcp_signal_of - the signal that rings facility @f's bell, or
 * SHMCP_E_BADARG for no such facility.
 */
int shmcp_signal_of(int facility)
{
	if (facility < 0 || facility >= SHMCP_NFAC)
		return SHMCP_E_BADARG;
	return shmcp_facilities[facility]->signal;
}

/* A pidfd for the process of VM @slot at logon @gen, checked against the
 * start time recorded at logon; -1 if that process is gone.
 * Caller holds cache_lock. */
static int pidfd_for(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	struct shmcp_vm *vm = &sys->vms[slot];
	if (sys->pidfd[slot] >= 0 && sys->pidfd_gen[slot] == gen)
		return sys->pidfd[slot];
	if (sys->pidfd[slot] >= 0)
		close(sys->pidfd[slot]);
	sys->pidfd[slot] = -1;
	int32_t pid = vm->pid;
	uint64_t start = vm->starttime;
	if (atomic_load(&vm->state) != SHMCP_VM_ACTIVE || vm->gen != gen)
		return -1;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -1;
	/* the pidfd now pins one process; make sure it is the VM's */
	if (!shmcp_proc_alive(pid, start)) {
		close(fd);
		return -1;
	}
	sys->pidfd[slot] = fd;
	sys->pidfd_gen[slot] = gen;
	return fd;
}

static int send_signal(int fd, int sig)
{
	static int thread_flag = PIDFD_SIGNAL_THREAD;
	int rc = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, thread_flag);
	if (rc < 0 && errno == EINVAL && thread_flag) {
		thread_flag = 0;  /* kernel before 6.9: the process, not the thread */
		rc = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
	}
	return rc;
}

/**
 * shmcp_ring_bell - after a record was published for facility @f of VM
 * @slot (logon @gen), signal its process unless it is polling or a
 * signal is already on its way.  Takes no lock of the segment.
 */
void shmcp_ring_bell(shmcp_sys *sys, int32_t slot, uint32_t gen, int f)
{
	struct shmcp_fq *q = &sys->vms[slot].fq[f];
	atomic_thread_fence(memory_order_seq_cst);
	uint32_t want = atomic_load(&q->want);
	if (!want)
		return;
	if (want >= SHMCP_WANT_THREAD && !(atomic_fetch_or(&sys->vms[slot].thread_bell, 1) & 1)) {
		shmcp_running_set(sys, slot, 1);  /* as for a sleeper woken by a signal */
		syscall(SYS_futex, &sys->vms[slot].thread_bell, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	if (!(want & (SHMCP_WANT_SLEEPING | SHMCP_WANT_ASYNC)))
		return;
	if (atomic_exchange(&q->bell, 1))
		return;
	pthread_mutex_lock(&sys->cache_lock);
	int fd = pidfd_for(sys, slot, gen);
	/* the sleeper this wakes wants a core from now on, not only once it
	 * has run: count it before it is scheduled */
	if (fd >= 0 && (atomic_load(&q->want) & SHMCP_WANT_SLEEPING))
		shmcp_running_set(sys, slot, 1);
	if (fd >= 0 && send_signal(fd, shmcp_signal_of(f)) < 0) {
		/* gone: the watchdog logs it off; forget the stale pidfd */
		close(fd);
		sys->pidfd[slot] = -1;
	}
	pthread_mutex_unlock(&sys->cache_lock);
}

/**
 * shmcp_pidfd_forget - drop the cached pidfd of @slot (after its logoff).
 */
void shmcp_pidfd_forget(shmcp_sys *sys, int32_t slot)
{
	pthread_mutex_lock(&sys->cache_lock);
	if (sys->pidfd[slot] >= 0)
		close(sys->pidfd[slot]);
	sys->pidfd[slot] = -1;
	pthread_mutex_unlock(&sys->cache_lock);
}

/**
 * shmcp_bell_clear - the consumer took the doorbell of facility @f: clear
 * the in-flight mark before looking at the queue, so that any record
 * published after the look rings again.
 */
int shmcp_bell_clear(shmcp_sys *sys, int32_t slot, int facility)
{
	if (!shmcp_slot_ok(sys, slot) || facility < 0 || facility >= SHMCP_NFAC)
		return SHMCP_E_BADARG;
	atomic_exchange(&sys->vms[slot].fq[facility].bell, 0);
	return 0;
}

/* Set the SHMCP_WANT_SLEEPING bit of the facilities in @fmask; full
 * fence after, for the look at the queue that follows. */
static void set_sleeping(shmcp_sys *sys, int32_t slot, int fmask)
{
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (fmask & (1 << f))
			atomic_fetch_or(&sys->vms[slot].fq[f].want, SHMCP_WANT_SLEEPING);
	atomic_thread_fence(memory_order_seq_cst);
}

/**
 * shmcp_set_async - the VM in @slot has (@on) or no longer has an
 * unblocked handler for facility @f: every record must then interrupt it.
 * Full fence after: the caller looks at the queue next, so a record
 * published before the bit was seen is not missed.
 */
int shmcp_set_async(shmcp_sys *sys, int32_t slot, int facility, int on)
{
	if (!shmcp_slot_ok(sys, slot) || facility < 0 || facility >= SHMCP_NFAC)
		return SHMCP_E_BADARG;
	_Atomic uint32_t *w = &sys->vms[slot].fq[facility].want;
	if (on)
		atomic_fetch_or(w, SHMCP_WANT_ASYNC);
	else
		atomic_fetch_and(w, ~(uint32_t)SHMCP_WANT_ASYNC);
	atomic_thread_fence(memory_order_seq_cst);
	return 0;
}

/**
 * shmcp_running_set - mark VM @slot running (@on) or asleep, for the spin
 * policy.  One atomic per change, and none when the bit is already so, so
 * a VM that stays in one state does not bounce the cache line.  LOGON and
 * LOGOFF clear it: a VM that died while running is forgotten when it is
 * reaped.
 */
void shmcp_running_set(shmcp_sys *sys, int32_t slot, int on)
{
	_Atomic uint64_t *w = &sys->hdr->running[slot / 64];
	uint64_t bit = 1ULL << (slot % 64);
	uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
	if (on && !(cur & bit))
		atomic_fetch_or(w, bit);
	else if (!on && (cur & bit))
		atomic_fetch_and(w, ~bit);
}

/**
 * shmcp_running_at_least - 1 if at least @n VMs are running.  A bit of a
 * slot that is not ACTIVE (a doorbell rung just as its VM was logged off)
 * is not counted, so a stale bit can never stop the spin for good.
 */
int shmcp_running_at_least(shmcp_sys *sys, int n)
{
	uint32_t words = (sys->max_vms + 63) / 64;
	int bits = 0;
	for (uint32_t i = 0; i < words; i++)
		bits += __builtin_popcountll(atomic_load_explicit(&sys->hdr->running[i],
								  memory_order_relaxed));
	if (bits < n)
		return 0;  /* the common case: stale bits only ever add */
	int live = 0;
	for (uint32_t i = 0; i < words && live < n; i++) {
		uint64_t w = atomic_load_explicit(&sys->hdr->running[i], memory_order_relaxed);
		for (; w && live < n; w &= w - 1) {
			uint32_t slot = i * 64 + (uint32_t)__builtin_ctzll(w);
			live += slot < sys->max_vms &&
				atomic_load_explicit(&sys->vms[slot].state, memory_order_relaxed) ==
					SHMCP_VM_ACTIVE;
		}
	}
	return live >= n;
}

/**
 * shmcp_spin_allowed - is a core spare for a spinner?  Not if the running
 * VMs, the caller included, outnumber the cores: one of them waits for a
 * core, and it is likely the very producer the spinner waits for.
 */
int shmcp_spin_allowed(shmcp_sys *sys)
{
	static long cores;
	if (!cores)
		cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 1 && !shmcp_running_at_least(sys, (int)cores + 1);
}

/* Spin on the queue until @until while a core is spare, looked at again
 * every ~1 us: a doorbell rung meanwhile may have woken a VM that needs
 * this core.  No back-off for fruitless spins: a spin allowed by the count
 * keeps an otherwise idle core busy, which measured cheaper than letting
 * it idle (fan-in, bench/NOTES.md "Spin back-off"). */
static int spin(shmcp_sys *sys, int32_t slot, int fmask, int64_t until)
{
	if (!shmcp_spin_allowed(sys))
		return 0;
	for (unsigned n = 0;; n++) {
		if (shmcp_pending(sys, slot, fmask) > 0)
			return 1;
		if ((n & 31) == 31) {
			if (shmcp_now_ns() >= until || !shmcp_spin_allowed(sys))
				return 0;
			/* the producer may share this core: let it run now rather
			 * than at the end of our spin (costs ~0.3 us when alone) */
			sched_yield();
		}
		cpu_relax();
	}
}

/* The length of one sleep, and whether a main thread's wait returns
 * SHMCP_WAIT_SLICE when one ends (shmcp_wait_slices). */
static int64_t slice_ns = 500000000;
static int main_returns;

/**
 * shmcp_wait_slices - sleeps in shmcp_wait last @ns (> 0; else unchanged);
 * with @main_returns, a wait in the process's main thread returns
 * SHMCP_WAIT_SLICE when one ends, so that a caller that must run signal
 * handlers (Python) gets to see one whose signal landed just before the
 * wait blocked signals.  Process-wide; set once, before any wait.
 */
void shmcp_wait_slices(int64_t ns, int main_returns_)
{
	if (ns > 0)
		slice_ns = ns;
	main_returns = main_returns_;
}

/* The signals a main thread's sleep blocks and takes: all but the ones
 * that cannot be blocked or that a fault raises synchronously. */
static void catchable(sigset_t *set)
{
	static const int sync_signals[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL,
					    SIGFPE, SIGTRAP, SIGSYS, SIGABRT };
	sigfillset(set);
	for (size_t i = 0; i < sizeof sync_signals / sizeof sync_signals[0]; i++)
		sigdelset(set, sync_signals[i]);
}

/* What look() returns when the sleeper should sleep on (no SHMCP_WAIT_*). */
#define SLEEP_ON (-1000)

/* Look at the queue, the system and the deadline for a sleeper: SLEEP_ON
 * (*@slice set), else what the wait returns. */
static int look(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask, int64_t deadline,
		int64_t *slice)
{
	struct shmcp_vm *vm = &sys->vms[slot];
	if (shmcp_pending(sys, slot, fmask) > 0)
		return SHMCP_WAIT_READY;
	if (shmcp_is_down(sys) || atomic_load(&vm->state) != SHMCP_VM_ACTIVE || vm->gen != gen ||
	    atomic_load(&sys->leaving))  /* shmcp_leave: the handle is being let go */
		return SHMCP_WAIT_DOWN;
	int64_t now = shmcp_now_ns();
	if (now >= deadline)
		return SHMCP_WAIT_TIMEOUT;
	*slice = deadline - now < slice_ns ? deadline - now : slice_ns;
	return SLEEP_ON;
}

/* The signal sleeper leaves: clear its SHMCP_WANT_SLEEPING bits -- not
 * another VM's, if its VM was forced off and the slot logged on again
 * meanwhile (LOGON zeroed want; a later bit is the new VM's sleeper's),
 * as unwant_thread does for the futex count: a bit that gen moved on
 * under is set again (at worst a spurious doorbell). */
static void unset_sleeping(struct shmcp_vm *vm, uint32_t gen, int fmask)
{
	if (__atomic_load_n(&vm->gen, __ATOMIC_SEQ_CST) != gen)
		return;
	int had = 0;
	for (int f = 0; f < SHMCP_NFAC; f++)
		if ((fmask & (1 << f)) &&
		    (atomic_fetch_and(&vm->fq[f].want, ~(uint32_t)SHMCP_WANT_SLEEPING) &
		     SHMCP_WANT_SLEEPING))
			had |= 1 << f;
	if (__atomic_load_n(&vm->gen, __ATOMIC_SEQ_CST) != gen)
		for (int f = 0; f < SHMCP_NFAC; f++)
			if (had & (1 << f))
				atomic_fetch_or(&vm->fq[f].want, SHMCP_WANT_SLEEPING);
}

/* The main thread's sleep: in sigtimedwait, its doorbells and every other
 * signal blocked and waited for, so none can land between two looks and
 * go unseen.  Another signal taken that way is raised again for this
 * thread, to be handled as the mask is restored: SHMCP_WAIT_INTR. */
static int sleep_main(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask, int64_t deadline)
{
	struct shmcp_vm *vm = &sys->vms[slot];
	/* ours are taken here; the other facility's doorbell stays pending
	 * for its handler after the wait, as do signals already blocked */
	sigset_t block, waitfor, old;
	catchable(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	waitfor = block;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&old, s) == 1)
			sigdelset(&waitfor, s);
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (fmask & (1 << f))
			sigaddset(&waitfor, shmcp_signal_of(f));
		else
			sigdelset(&waitfor, shmcp_signal_of(f));
	int rc;
	set_sleeping(sys, slot, fmask);
	for (;;) {
		/* not running from here (before the look at the queue, so the
		 * mark of a doorbell rung after it stands) */
		shmcp_running_set(sys, slot, 0);
		for (int f = 0; f < SHMCP_NFAC; f++)
			if (fmask & (1 << f))
				atomic_exchange(&vm->fq[f].bell, 0);
		int64_t slice;
		if ((rc = look(sys, slot, gen, fmask, deadline, &slice)) != SLEEP_ON)
			break;
		struct timespec ts = { slice / 1000000000, slice % 1000000000 };
		int sig = sigtimedwait(&waitfor, NULL, &ts);
		if (sig > 0 && sig != SIGUSR1 && sig != SIGUSR2) {
			pthread_kill(pthread_self(), sig);  /* pending until the mask is restored */
			rc = SHMCP_WAIT_INTR;
			break;
		}
		if (sig < 0 && errno == EINTR) {
			rc = SHMCP_WAIT_INTR;
			break;
		}
		if (sig < 0 && main_returns && shmcp_now_ns() < deadline) {
			rc = SHMCP_WAIT_SLICE;
			break;
		}
	}
	unset_sleeping(&sys->vms[slot], gen, fmask);
	if (rc != SHMCP_WAIT_DOWN)  /* back to work, whatever woke us */
		shmcp_running_set(sys, slot, 1);
	/* a doorbell taken by sigtimedwait needs no handler; one still
	 * pending when the mask is restored finds the queue as it is */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Arm the futex doorbell: clear its rung bit and count one more arming
 * (bit 0 rung, the rest a count), fence, and return the armed value for
 * FUTEX_WAIT.  Counting, not storing 0: a sleeper arming after a ring
 * changes the word, so another that armed before it and is about to
 * sleep on the old value is turned back (EAGAIN) rather than left
 * asleep after the wake that was meant for it. */
static uint32_t arm_futex(struct shmcp_vm *vm)
{
	uint32_t w = atomic_load(&vm->thread_bell), armed;
	do
		armed = (w & ~1u) + 2;
	while (!atomic_compare_exchange_weak(&vm->thread_bell, &w, armed));
	atomic_thread_fence(memory_order_seq_cst);
	return armed;
}

/* A futex sleeper leaves: take its count out of want -- unless its VM
 * was forced off and the slot logged on again meanwhile: LOGON zeroed
 * want, and the count there now is the new VM's sleepers', which a
 * subtraction would leave asleep past their doorbells.  LOGON bumps gen
 * before it zeroes want, so a subtraction that came after the zeroing
 * sees the new gen and gives the count back; one before it was wiped
 * anyway, and giving it back leaves one count too many: at worst
 * spurious doorbells, never a lost one. */
static void unwant_thread(struct shmcp_vm *vm, uint32_t gen, int fmask)
{
	if (__atomic_load_n(&vm->gen, __ATOMIC_SEQ_CST) != gen)
		return;
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (fmask & (1 << f))
			atomic_fetch_sub(&vm->fq[f].want, SHMCP_WANT_THREAD);
	if (__atomic_load_n(&vm->gen, __ATOMIC_SEQ_CST) != gen)
		for (int f = 0; f < SHMCP_NFAC; f++)
			if (fmask & (1 << f))
				atomic_fetch_add(&vm->fq[f].want, SHMCP_WANT_THREAD);
}

/* The futex sleep: on the VM's doorbell word, counted in want as
 * SHMCP_WANT_THREAD.  Armed before each look; a producer that sees the
 * count sets the rung bit and wakes the futex: either the look sees its
 * record or the futex wait sees the changed word (the Dekker pattern
 * again).  Any thread but a main one with a handler to run (sleep_main).
 * A main thread's wait ends with SHMCP_WAIT_INTR when a caught signal
 * interrupts the futex (EINTR: with a timeout the kernel never restarts
 * it, SA_RESTART or not), and with SHMCP_WAIT_SLICE at a slice's end
 * (shmcp_wait_slices), for a signal caught between the look and the
 * sleep; other threads look again (PEP 475). */
static int sleep_futex(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask, int64_t deadline,
		       int is_main)
{
	struct shmcp_vm *vm = &sys->vms[slot];
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (fmask & (1 << f))
			atomic_fetch_add(&vm->fq[f].want, SHMCP_WANT_THREAD);
	int rc;
	for (;;) {
		shmcp_running_set(sys, slot, 0);
		uint32_t armed = arm_futex(vm);
		int64_t slice;
		if ((rc = look(sys, slot, gen, fmask, deadline, &slice)) != SLEEP_ON)
			break;
		struct timespec ts = { slice / 1000000000, slice % 1000000000 };
		/* EAGAIN (rung): look again */
		if (syscall(SYS_futex, &vm->thread_bell, FUTEX_WAIT, armed, &ts, NULL, 0) == 0 ||
		    !is_main)
			continue;
		if (errno == EINTR) {
			rc = SHMCP_WAIT_INTR;
			break;
		}
		if (errno == ETIMEDOUT && main_returns && shmcp_now_ns() < deadline) {
			rc = SHMCP_WAIT_SLICE;
			break;
		}
	}
	unwant_thread(vm, gen, fmask);
	if (rc != SHMCP_WAIT_DOWN)
		shmcp_running_set(sys, slot, 1);
	return rc;
}

/* Whether a main thread must sleep in sigtimedwait: a handler of its VM
 * is established and unblocked, so a signal may come for it at any moment
 * (the header: the window FUTEX_WAIT leaves). */
static int handler_armed(shmcp_sys *sys, int32_t slot)
{
	for (int f = 0; f < SHMCP_NFAC; f++)
		if (atomic_load_explicit(&sys->vms[slot].fq[f].want, memory_order_relaxed) &
		    SHMCP_WANT_ASYNC)
			return 1;
	return 0;
}

/* Whether the caller is its process's main thread, known per thread
 * without two system calls per wait.  After fork() the child's one thread
 * is its main one, whatever it was in the parent. */
static __thread signed char main_thread = -1;
static void forked_child(void)
{
	main_thread = 1;
}
static void register_fork(void)
{
	pthread_atfork(NULL, NULL, forked_child);
}
static int in_main_thread(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (main_thread < 0) {
		pthread_once(&once, register_fork);
		main_thread = getpid() == (pid_t)syscall(SYS_gettid);
	}
	return main_thread;
}

/**
 * shmcp_wait - wait until a record is queued for VM @slot (logon @gen) in
 * the facilities of @fmask, @timeout_ns passes (< 0: no limit), or another
 * signal arrives.  Spins first for up to @spin_ns, then sleeps: on the
 * VM's futex (sleep_futex), or, a main thread of a VM with an unblocked
 * handler, in sigtimedwait (sleep_main).  The sleep is sliced
 * so a shut-down system is noticed.  Call with the GIL released.  Returns
 * SHMCP_WAIT_READY / _TIMEOUT / _INTR (another signal's handler is due:
 * return to Python, then wait again) / _SLICE (shmcp_wait_slices: the same,
 * at a slice's end) / _DOWN, or SHMCP_E_*.
 */
int shmcp_wait(shmcp_sys *sys, int32_t slot, uint32_t gen, int fmask,
	       int64_t timeout_ns, int64_t spin_ns)
{
	if (!shmcp_slot_ok(sys, slot) || !(fmask & ((1 << SHMCP_NFAC) - 1)))
		return SHMCP_E_BADARG;
	struct shmcp_vm *vm = &sys->vms[slot];
	if (vm->gen == gen)  /* not a later logon's bit */
		shmcp_running_set(sys, slot, 1);  /* e.g. the first wait after LOGON */
	if (shmcp_pending(sys, slot, fmask) > 0)
		return SHMCP_WAIT_READY;
	int64_t start = shmcp_now_ns();
	int64_t deadline = timeout_ns < 0 ? INT64_MAX : start + timeout_ns;
	if (spin_ns > 0 && timeout_ns != 0) {
		int64_t until = start + spin_ns < deadline ? start + spin_ns : deadline;
		if (spin(sys, slot, fmask, until))
			return SHMCP_WAIT_READY;
	}
	int is_main = in_main_thread();
	if (is_main && handler_armed(sys, slot))
		return sleep_main(sys, slot, gen, fmask, deadline);
	return sleep_futex(sys, slot, gen, fmask, deadline, is_main);
}
