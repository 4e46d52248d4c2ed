/*-------------------------------------------------------------------------
 *
 * blocking.c
 *		Who keeps whom waiting: lock waiters and the sessions holding the
 *		locks they wait for.
 *
 * The blocking limit ends a session idle in transaction that keeps another
 * session waiting for one of its locks (a table lock, or a row lock: a wait
 * on its transaction ID).  Working out who blocks whom is what
 * pg_blocking_pids() does, through GetBlockerStatusData(), which takes
 * every lock-manager partition lock: far too dear for every scan.  So a
 * scan first reads each backend's PGPROC for a lock wait (waitLock, and
 * waitStart, when the wait began), without a lock: a pointer and a
 * timestamp, enough to know that nobody waits, which is the common case.
 * Only for a waiter that has waited at least the shortest blocking limit in
 * force does it ask the lock manager for its blockers, and keeps those that
 * hold a conflicting lock ("hard" blockers: a session queued ahead of the
 * waiter but holding nothing does not count, and a session idle in
 * transaction is never queued).
 *
 * Shared state: PGPROC wait fields, read without a lock (a stale value only
 * delays or hastens the expensive step by one scan); the lock manager's
 * tables through GetBlockerStatusData(), which takes its own locks.  Never
 * called with a leakguard lock or ProcArrayLock held.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "storage/lock.h"
#include "storage/proc.h"

/*
 * Append to "out" (room for "max") a LeakguardBlock for each pair of a
 * backend that has waited for a lock since "now" - min_wait_us or earlier
 * and a backend holding a lock that conflicts with what it waits for.
 * Returns the number written; sets *next_check to the earliest time a
 * waiter that has not waited that long yet will have (0: none waits).
 * Memory is allocated in the current context.
 */
int
lg_blocks_find(TimestampTz now, int64 min_wait_us, LeakguardBlock *out,
			   int max, TimestampTz *next_check)
{
	int			n = 0;

	*next_check = 0;

	for (int i = 0; i < MaxBackends && n < max; i++)
	{
		volatile PGPROC *proc = GetPGProcByNumber(i);
		int			pid = proc->pid;
		TimestampTz wait_start;
		BlockedProcsData *data;

		if (pid == 0 || proc->waitLock == NULL)
			continue;
		wait_start = (TimestampTz)
			pg_atomic_read_u64((pg_atomic_uint64 *) &proc->waitStart);
		if (wait_start == 0)
			continue;
		if (now - wait_start < min_wait_us)
		{
			if (*next_check == 0 || wait_start + min_wait_us < *next_check)
				*next_check = wait_start + min_wait_us;
			continue;
		}

		data = GetBlockerStatusData(pid);
		for (int p = 0; p < data->nprocs; p++)
		{
			BlockedProcData *bproc = &data->procs[p];
			LockInstanceData *instances = &data->locks[bproc->first_lock];
			LockInstanceData *blocked = NULL;
			LockMethod	method;
			int			conflicts;

			for (int j = 0; j < bproc->num_locks; j++)
				if (instances[j].pid == bproc->pid)
					blocked = &instances[j];
			if (blocked == NULL || blocked->waitLockMode == NoLock)
				continue;
			method = GetLockTagsMethodTable(&blocked->locktag);
			conflicts = method->conflictTab[blocked->waitLockMode];
			for (int j = 0; j < bproc->num_locks && n < max; j++)
			{
				LockInstanceData *holder = &instances[j];

				if (holder == blocked || holder->leaderPid == blocked->leaderPid ||
					(conflicts & holder->holdMask) == 0)
					continue;
				out[n].waiter_pid = pid;
				out[n].blocker_pid = holder->pid;
				out[n].wait_start = wait_start;
				n++;
			}
		}
	}
	return n;
}
