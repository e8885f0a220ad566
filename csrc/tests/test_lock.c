/*
 * test_lock.c - the control lock under contention (segment.c), run by
 * `make csrc-test`.  Processes taking it back to back (the waiters' spaced
 * tries, their gaps growing, then the futex sleep) and processes taking it
 * between pauses (short gaps) both get it exclusively, every time, and each
 * acquisition counts once in lock_taken, which the waiters' gaps go by.
 * A function that needs the lock, called without it, stops the process
 * (SHMCP_LOCK_HELD: the tests are the debug build).  Nothing here asserts
 * a duration.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define TAKERS 3
#define ROUNDS 100000

/* Every taker adds 1 to @counter ROUNDS times under the lock, in two plain
 * steps (a lost update shows a second holder); @pause: work between holds. */
static void contend(shmcp_sys *sys, volatile uint64_t *counter, int pause)
{
	uint32_t before = atomic_load(&sys->hdr->lock_taken);
	pid_t kids[TAKERS];
	for (int k = 0; k < TAKERS; k++) {
		if ((kids[k] = fork()) == 0) {
			int bad = 0;
			for (int i = 0; i < ROUNDS; i++) {
				bad += shmcp_lock(sys) != 0;
				uint64_t v = *counter;
				for (int j = 0; j < 20; j++)  /* a hold long enough to be met */
					cpu_relax();
				*counter = v + 1;
				shmcp_unlock(sys);
				for (int j = 0; j < pause; j++)
					cpu_relax();
			}
			_exit(bad ? 1 : 0);
		}
		CHECK(kids[k] > 0);
	}
	for (int k = 0; k < TAKERS; k++) {
		int status = -1;
		CHECK(waitpid(kids[k], &status, 0) == kids[k]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(*counter == (uint64_t)TAKERS * ROUNDS);
	CHECK(atomic_load(&sys->hdr->lock_taken) - before == (uint32_t)(TAKERS * ROUNDS));
}

/* How a child that runs @fn(@sys) ends: its wait status. */
static int child_status(shmcp_sys *sys, void (*fn)(shmcp_sys *))
{
	pid_t kid = fork();
	if (kid == 0) {
		fclose(stderr);  /* the abort's message is expected */
		fn(sys);
		_exit(0);
	}
	int status = -1;
	CHECK(kid > 0 && waitpid(kid, &status, 0) == kid);
	return status;
}

static void drain_unlocked(shmcp_sys *sys)
{
	shmcp_queue_drain(sys, 0);
}

static void drain_locked(shmcp_sys *sys)
{
	if (shmcp_lock(sys) == 0) {
		shmcp_queue_drain(sys, 0);
		shmcp_unlock(sys);
	}
}

static void drain_released(shmcp_sys *sys)
{
	if (shmcp_lock(sys) == 0)
		shmcp_unlock(sys);
	shmcp_queue_drain(sys, 0);
}

static void test_lock_held_checked(shmcp_sys *sys)
{
	int st = child_status(sys, drain_locked);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = child_status(sys, drain_unlocked);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	st = child_status(sys, drain_released);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

/* A holder killed while another process waits for the lock: the waiter
 * is not held up by the dead owner's lock word (it looks at the word
 * between its tries); it takes the lock, repairing, and the lock is whole
 * after. */
static void test_holder_killed_while_waited_for(shmcp_sys *sys)
{
	uint64_t repairs = atomic_load(&sys->hdr->lock_repairs);
	int ready[2];
	CHECK(pipe(ready) == 0);
	pid_t holder = fork();
	if (holder == 0) {
		char c = shmcp_lock(sys) == 0;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char held = 0;
	CHECK(holder > 0 && read(ready[0], &held, 1) == 1 && held == 1);
	pid_t waiter = fork();
	if (waiter == 0) {
		int rc = shmcp_lock(sys);
		if (rc == 0)
			shmcp_unlock(sys);
		_exit(rc == 0 ? 0 : 1);
	}
	CHECK(waiter > 0);
	struct timespec ts = { 0, 2 * 1000 * 1000 };  /* the waiter is waiting */
	nanosleep(&ts, NULL);
	CHECK(kill(holder, SIGKILL) == 0);
	int status = -1;
	CHECK(waitpid(holder, &status, 0) == holder && WIFSIGNALED(status));
	CHECK(waitpid(waiter, &status, 0) == waiter && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	CHECK(atomic_load(&sys->hdr->lock_repairs) == repairs + 1);
	CHECK(shmcp_lock_holder(sys) == 0);
	CHECK(shmcp_lock(sys) == 0);
	shmcp_unlock(sys);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	shmcp_sys *sys = small_system("shmcp-lock-test", 4);
	volatile uint64_t *counter = mmap(NULL, sizeof *counter, PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(counter != MAP_FAILED);
	for (int pause = 0; pause <= 200; pause += 200) {
		*counter = 0;
		contend(sys, counter, pause);
	}
	munmap((void *)counter, sizeof *counter);
	test_lock_held_checked(sys);
	test_holder_killed_while_waited_for(sys);
	shmcp_detach(sys);
	return report("test_lock");
}
