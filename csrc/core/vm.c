/*
 * vm.c - the VM table: LOGON, LOGOFF, process identity and the detection
 * of VMs whose process died.
 *
 * A VM's process is identified by its pid plus its start time (field 22 of
 * /proc/PID/stat), so a recycled pid is never taken for the VM.  Each
 * slot carries a generation, bumped at every LOGON, so a handle kept from
 * an earlier logon of the slot is recognised as stale.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int shmcp_slot_ok(shmcp_sys *sys, int32_t slot)
{
	return slot >= 0 && (uint32_t)slot < sys->max_vms;
}

/* Read /proc/PID/stat: its state letter and start time; -1 if gone. */
static int proc_stat(int32_t pid, char *state, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n;
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* the command name may hold spaces and ')': fields follow the last ')' */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	*state = p[2];          /* field 3 */
	if (p[3] != ' ')
		return -1;
	p += 4;                 /* the start of field 4 */
	for (int field = 4; field < 22; field++) {  /* on to field 22 */
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

/**
 * shmcp_proc_starttime - start time of process @pid (clock ticks since
 * boot), or 0 if there is no such process.
 */
uint64_t shmcp_proc_starttime(int32_t pid)
{
	char st;
	uint64_t start;
	return proc_stat(pid, &st, &start) ? 0 : start;
}

/**
 * shmcp_proc_alive - 1 if process @pid exists, has not exited (a zombie
 * counts as dead) and started at @starttime; 0 otherwise.
 */
int shmcp_proc_alive(int32_t pid, uint64_t starttime)
{
	char st;
	uint64_t start;
	if (pid <= 0 || proc_stat(pid, &st, &start))
		return 0;
	return start == starttime && st != 'Z' && st != 'X' && st != 'x';
}

static int userid_ok(const char *u)
{
	int len = 0;
	while (len < SHMCP_USERID_LEN && u[len] != ' ')
		len++;
	if (len == 0)
		return 0;
	for (int i = 0; i < SHMCP_USERID_LEN; i++) {
		char c = u[i];
		int ok = i < len ? (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
					   c == '@' || c == '#' || c == '$'
				 : c == ' ';
		if (!ok)
			return 0;
	}
	return 1;
}

/* With the lock held: LOGOFF of an active slot, the hook run once; the
 * partners' doorbells go into @bells, rung by the caller after unlock. */
static void logoff_locked(shmcp_sys *sys, int32_t slot, struct shmcp_bells *bells)
{
	SHMCP_LOCK_HELD(sys);
	struct shmcp_vm *vm = &sys->vms[slot];
	atomic_store(&vm->state, SHMCP_VM_CLOSING);
	shmcp_fault("logoff");
	shmcp_logoff_hook(sys, slot, bells);
	atomic_store(&vm->state, SHMCP_VM_FREE);
}

static int find_locked(shmcp_sys *sys, const char *userid)
{
	for (uint32_t i = 0; i < sys->max_vms; i++)
		if (atomic_load(&sys->vms[i].state) == SHMCP_VM_ACTIVE &&
		    memcmp(sys->vms[i].userid, userid, SHMCP_USERID_LEN) == 0)
			return (int)i;
	return -1;
}

/**
 * shmcp_logon - LOGON of @userid (8 bytes, upper case, blank padded) by
 * process @pid started at @starttime.  A VM of that userid whose process
 * died is logged off first; one whose process lives is SHMCP_E_ALREADY.
 * Takes the control lock.  Returns 0 with the slot and its generation,
 * or SHMCP_E_ALREADY / _TABLEFULL / _DOWN / _BADARG / _LOCK.
 */
int shmcp_logon(shmcp_sys *sys, const char *userid, int32_t pid,
		uint64_t starttime, int32_t *slot, uint32_t *gen)
{
	if (!userid || !userid_ok(userid) || pid <= 0)
		return SHMCP_E_BADARG;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	if (shmcp_is_down(sys)) {
		rc = SHMCP_E_DOWN;
		goto out;
	}
	int i = find_locked(sys, userid);
	if (i >= 0) {
		struct shmcp_vm *vm = &sys->vms[i];
		if (shmcp_proc_alive(vm->pid, vm->starttime)) {
			rc = SHMCP_E_ALREADY;
			goto out;
		}
		logoff_locked(sys, i, &bells);
	}
	for (uint32_t j = 0; j < sys->max_vms; j++) {
		struct shmcp_vm *vm = &sys->vms[j];
		if (atomic_load(&vm->state) != SHMCP_VM_FREE)
			continue;
		memcpy(vm->userid, userid, SHMCP_USERID_LEN);
		vm->pid = pid;
		vm->starttime = starttime;
		vm->gen++;
		for (int f = 0; f < SHMCP_NFAC; f++) {
			atomic_store(&vm->fq[f].want, 0);
			atomic_store(&vm->fq[f].bell, 0);
		}
		shmcp_running_set(sys, (int32_t)j, 0);  /* counted from its first wait */
		shmcp_fault("logon");
		atomic_store(&vm->state, SHMCP_VM_ACTIVE);
		/* under the lock: every watchdog is woken before any partner
		 * can have a path to this VM */
		shmcp_watch_ring(sys);
		shmcp_fault("logon.rung");  /* tests: dead, logged on, lock held */
		*slot = (int32_t)j;
		*gen = vm->gen;
		goto out;
	}
	rc = SHMCP_E_TABLEFULL;
out:
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	return rc;
}

/**
 * shmcp_logoff - LOGOFF of the VM in @slot, logon generation @gen: runs
 * the logoff hook once and frees the slot.  Takes the control lock.
 * Returns 0, or SHMCP_E_STALE if that logon already ended (idempotent
 * for the caller), _BADARG, _LOCK.
 */
int shmcp_logoff(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	struct shmcp_bells bells = { .n = 0, .overflow = 0 };
	int rc = shmcp_lock(sys);
	if (rc)
		return rc;
	struct shmcp_vm *vm = &sys->vms[slot];
	if (atomic_load(&vm->state) == SHMCP_VM_ACTIVE && vm->gen == gen)
		logoff_locked(sys, slot, &bells);
	else
		rc = SHMCP_E_STALE;
	shmcp_unlock(sys);
	shmcp_bells_ring(sys, &bells);
	shmcp_pidfd_forget(sys, slot);
	return rc;
}

/**
 * shmcp_find - the slot and generation of logged-on @userid, or
 * SHMCP_E_NOTLOGGED.  Lock-free snapshot.
 */
int shmcp_find(shmcp_sys *sys, const char *userid, int32_t *slot, uint32_t *gen)
{
	for (uint32_t i = 0; i < sys->max_vms; i++) {
		struct shmcp_vm *vm = &sys->vms[i];
		if (atomic_load(&vm->state) == SHMCP_VM_ACTIVE &&
		    memcmp(vm->userid, userid, SHMCP_USERID_LEN) == 0) {
			*slot = (int32_t)i;
			*gen = vm->gen;
			return 0;
		}
	}
	return SHMCP_E_NOTLOGGED;
}

/**
 * shmcp_vm_alive - 1 if @slot holds logon @gen and its process lives.
 */
int shmcp_vm_alive(shmcp_sys *sys, int32_t slot, uint32_t gen)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	struct shmcp_vm *vm = &sys->vms[slot];
	return atomic_load(&vm->state) == SHMCP_VM_ACTIVE && vm->gen == gen &&
	       shmcp_proc_alive(vm->pid, vm->starttime);
}

/**
 * shmcp_reap - LOGOFF of every VM whose process died.  Scans without the
 * lock and takes it only for a VM found dead (re-checked under it, so the
 * hook runs exactly once however many processes reap at the same time).
 * A tracer whose process died is forgotten too (shmcp_trace_reap).
 * Returns how many VMs were logged off, or SHMCP_E_LOCK.
 */
int shmcp_reap(shmcp_sys *sys)
{
	int n = 0;
	for (uint32_t i = 0; i < sys->max_vms; i++) {
		struct shmcp_vm *vm = &sys->vms[i];
		if (atomic_load(&vm->state) != SHMCP_VM_ACTIVE ||
		    shmcp_proc_alive(vm->pid, vm->starttime))
			continue;
		struct shmcp_bells bells = { .n = 0, .overflow = 0 };
		if (shmcp_lock(sys))
			return SHMCP_E_LOCK;
		if (atomic_load(&vm->state) == SHMCP_VM_ACTIVE &&
		    !shmcp_proc_alive(vm->pid, vm->starttime)) {
			logoff_locked(sys, (int32_t)i, &bells);
			n++;
		}
		shmcp_unlock(sys);
		shmcp_bells_ring(sys, &bells);
		shmcp_pidfd_forget(sys, (int32_t)i);
	}
	int rc = shmcp_trace_reap(sys);  /* a killed tracer, found the same way */
	return rc < 0 ? rc : n;
}

/**
 * shmcp_live_count - reap the dead, then count the VMs logged on.
 */
int shmcp_live_count(shmcp_sys *sys)
{
	int rc = shmcp_reap(sys);
	if (rc < 0)
		return rc;
	int n = 0;
	for (uint32_t i = 0; i < sys->max_vms; i++)
		n += atomic_load(&sys->vms[i].state) == SHMCP_VM_ACTIVE;
	return n;
}

/**
 * shmcp_vminfo - a snapshot of VM table entry @slot.
 */
int shmcp_vminfo(shmcp_sys *sys, int32_t slot, struct shmcp_vminfo *out)
{
	if (!shmcp_slot_ok(sys, slot))
		return SHMCP_E_BADARG;
	struct shmcp_vm *vm = &sys->vms[slot];
	out->slot = slot;
	out->state = atomic_load(&vm->state);
	out->gen = vm->gen;
	out->pid = vm->pid;
	out->starttime = vm->starttime;
	memcpy(out->userid, vm->userid, SHMCP_USERID_LEN);
	for (int f = 0; f < SHMCP_NFAC; f++)
		out->queued[f] = (uint64_t)shmcp_pending(sys, slot, 1 << f);
	return 0;
}

uint64_t shmcp_logoff_count(shmcp_sys *sys)
{
	return atomic_load(&sys->hdr->logoffs);
}
