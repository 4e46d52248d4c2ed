/*-------------------------------------------------------------------------
 *
 * measure_lock.c
 *		The blocking limit: how long another session has waited for the
 *		locks of a session idle in transaction, read at every pass.
 *
 * The waits themselves are found by blocking.c (a pass over the PGPROCs,
 * and the lock manager's tables only when a waiter has waited long
 * enough); here they are matched to the slots the worker follows
 * (tracker.c) and judged against each blocker's own limit.
 *
 * Shared state: none directly (blocking.c reads the lock manager's); the
 * state below is the worker's local memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "blocking.h"
#include "kinds.h"
#include "leakguard.h"
#include "measure.h"
#include "sessionlimits.h"
#include "stats.h"
#include "tracker.h"

#include "miscadmin.h"
#include "utils/memutils.h"

/*
 * The blocking limit: the shortest in force (0: none, nothing is looked
 * at), the waits found by a scan, and per slot what its candidate blocks.
 */
static int64 lg_blocking_shortest_ms = 0;
static int64 lg_blocking_next_us = 0;	/* next look, monotonic clock */
static LgBlocked *lg_blocked;
static uint64 lg_blocking_pass = 0;

/* A client backend's pid and slot: the slots a scan reads, by pid. */
typedef struct LgPidSlot
{
	int			pid;
	int			slot;
} LgPidSlot;

static LgPidSlot *lg_pid_slots;

static int
lg_cmp_pid_slot(const void *a, const void *b)
{
	int			pa = ((const LgPidSlot *) a)->pid;
	int			pb = ((const LgPidSlot *) b)->pid;

	return (pa > pb) - (pa < pb);
}

/*
 * Add to the n candidates the sessions idle in transaction that have kept
 * another session waiting for one of their locks longer than their
 * blocking limit, from the later of the waiter's waitStart and the start of
 * their idle period (both by the system clock; a row's wait from the
 * waiter's first wait for it, blocking.c).  Costs a pass over the PGPROCs,
 * and one copy of the lock manager's tables only when a waiter has waited
 * the shortest blocking limit (blocking.c); the pass is made within half
 * the shortest blocking limit of the previous one, so that every wait is
 * seen before it reaches a limit, and again when a wait it saw will reach
 * one: not at every scan; and every LG_MIN_SCAN_INTERVAL_MS while a row's
 * locker is being ended, so that its other lockers are ended as soon as
 * the waiter reaches them.
 * Brings *nearest_us (monotonic clock) forward to the next pass, so that
 * the worker wakes then.  Returns the new count.
 */
int
lg_blocking_due(int n, TimestampTz now, int64 now_us, int64 *nearest_us)
{
	int			nblocks;
	LeakguardBlock *blocks;
	TimestampTz next_check;
	int64		next_us;
	int			npids = 0;
	int			nread = lg_tracker.nread;

	if (lg_blocking_shortest_ms <= 0)
		return n;
	if (!lg_tracker.any_busy)
	{
		/* Every session idle: none can block; look once one is not. */
		lg_blocking_next_us = 0;
		return n;
	}
	if (now_us < lg_blocking_next_us)
	{
		lg_nearer(nearest_us, lg_blocking_next_us);
		return n;
	}

	/*
	 * Look again within half the shortest blocking limit, so that every wait
	 * is seen before it reaches it, or sooner when a wait seen now will
	 * reach a limit.
	 */
	next_us = now_us + Max(lg_blocking_shortest_ms * 1000 / 2,
						   LG_MIN_SCAN_INTERVAL_MS * 1000);
	nblocks = lg_blocks_find(now, lg_blocking_shortest_ms * 1000, true,
							 &blocks, &next_check);
	if (next_check != 0)
		lg_nearer(&next_us, now_us + (next_check - now));

	/* The slots by pid, once for the pass, when some session blocks. */
	lg_blocking_pass++;
	if (nblocks > 0)
	{
		for (int i = 0; i < nread; i++)
		{
			lg_pid_slots[npids].pid = lg_tracker.slots[lg_tracker.to_read[i]].pid;
			lg_pid_slots[npids].slot = lg_tracker.to_read[i];
			if (lg_pid_slots[npids].pid != 0)
				npids++;
		}
		qsort(lg_pid_slots, npids, sizeof(LgPidSlot), lg_cmp_pid_slot);
	}
	for (int b = 0; b < nblocks; b++)
	{
		const LeakguardBlock *blk = &blocks[b];
		LgPidSlot	key;
		LgPidSlot  *found;
		int			slot;
		LgSlot	   *s;
		LgPeriod   *p;
		int64		blocked_us;
		LgBlocked  *info;

		key.pid = blk->blocker_pid;
		found = bsearch(&key, lg_pid_slots, npids, sizeof(LgPidSlot),
						lg_cmp_pid_slot);
		if (found == NULL)
			continue;			/* not a client backend */
		slot = found->slot;
		s = &lg_tracker.slots[slot];
		p = &s->periods[LG_KIND_BLOCKING];

		/*
		 * A waiter for a row whose locker is being ended goes on to the row's
		 * next locker, if any, as soon as it is gone: look again then.
		 */
		if (blk->row && s->signalled)
			lg_nearer(&next_us, now_us + LG_MIN_SCAN_INTERVAL_MS * 1000);
		if (!p->active || p->reported || s->signalled ||
			s->limit_generation != lg_tracker.config_generation ||
			s->limits[LG_KIND_BLOCKING].value <= 0)
			continue;
		blocked_us = now - Max(blk->wait_start, p->since);
		if (blocked_us < s->limits[LG_KIND_BLOCKING].value * 1000)
		{
			lg_nearer(&next_us, now_us - blocked_us +
					  s->limits[LG_KIND_BLOCKING].value * 1000);
			continue;
		}

		if (blk->row)
			lg_nearer(&next_us, now_us + LG_MIN_SCAN_INTERVAL_MS * 1000);
		info = &lg_blocked[slot];
		if (lg_tracker.counts[slot] != -1)
		{
			n = lg_add_candidate(n, slot, LG_KIND_BLOCKING);
			info->nblocked = 0;
			info->blocked_us = 0;
			info->pass = lg_blocking_pass;
		}
		else if (info->pass != lg_blocking_pass)
			continue;			/* a candidate already, for another kind */
		if (info->nblocked < LG_BLOCKED_PIDS)
			info->pids[info->nblocked] = blk->waiter_pid;
		info->nblocked++;
		info->blocked_us = Max(info->blocked_us, blocked_us);
	}
	lg_blocking_next_us = next_us;
	lg_nearer(nearest_us, next_us);
	return n;
}

/* Allocate the per-slot state, once, at the worker's start. */
void
lg_blocking_init(void)
{
	lg_blocked = MemoryContextAlloc(TopMemoryContext,
									mul_size(MaxBackends, sizeof(LgBlocked)));
	lg_pid_slots = MemoryContextAlloc(TopMemoryContext,
									  mul_size(MaxBackends, sizeof(LgPidSlot)));
}

/* Take up the blocking limits in force (at start and at every reload). */
void
lg_blocking_configure(void)
{
	lg_blocking_shortest_ms = lg_kind_shortest_ms(LG_KIND_BLOCKING);
	lg_blocking_next_us = 0;
}

/* What the candidate in slot blocks, as lg_blocking_due() found it. */
const LgBlocked *
lg_blocking_of(int slot)
{
	return &lg_blocked[slot];
}
