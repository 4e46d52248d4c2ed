/*-------------------------------------------------------------------------
 *
 * blocking.c
 *		Who keeps whom waiting: lock waiters and the sessions holding the
 *		locks they wait for.
 *
 * The blocking limit ends a session idle in transaction that keeps another
 * session waiting for one of its locks (a table lock, or a row lock: a wait
 * on its transaction ID).  A pass first reads each backend's PGPROC for a
 * lock wait (waitLock, and waitStart, when the wait began), without a
 * lock: a pointer and a timestamp, enough to know that nobody waits, which
 * is the common case.  Only when a waiter has waited at least the shortest
 * blocking limit in force (or continues a row wait seen before, below) does
 * it read the lock manager, once for the whole pass: GetLockStatusData(),
 * what pg_locks reads, which takes every lock-manager partition lock once,
 * however many sessions wait.  From that copy it builds the whole graph of
 * waits, with no bound on the number of waiters or holders, and keeps the
 * "hard" blockers: a session holding a lock that conflicts with what a
 * waiter asks for (a session queued ahead of the waiter but holding
 * nothing does not count, and a session idle in transaction is never
 * queued).  A blocker that itself waits passes the wait on: a session
 * idle in transaction blocks every waiter queued behind the sessions that
 * wait for it (an UPDATE queued for a row's tuple lock, held by another
 * UPDATE waiting for the row's locker, waits for that locker too).
 * Who reaches whom is computed once per strongly connected component of
 * the waiters (sessions waiting for each other, a deadlock not yet
 * broken), not by a search from each waiter: O(W + E) steps and a bitmap
 * over the H holders per component (lg_blocks_find()).
 *
 * Row locks of several sessions at once (FOR SHARE, FOR KEY SHARE: a
 * MultiXact) are waited for one member after another: the waiter holds
 * the row's tuple lock and waits on the first member's transaction ID,
 * then, once it is gone, on the next, each wait with a new waitStart.  The
 * lock manager never shows the members it does not wait on yet (they are
 * on the heap page only).  So the worker remembers, from one pass to the
 * next, the row each waiter waits for (the tuple lock it holds or awaits)
 * and since when: a waiter still after the same row is timed from its
 * first wait, and each member is due as soon as the waiter reaches it
 * (the worker looks again every few milliseconds while such a waiter's
 * blocker is being ended).
 *
 * PostgreSQL (15 to 18: ProcSleep(), RemoveFromWaitQueue()) clears a
 * backend's waitStart when its wait is granted, but not when the wait
 * fails (lock_timeout, a cancel, a deadlock); the next wait sets waitLock
 * under the partition lock and waitStart only after releasing it.  A read
 * in between sees the new wait with the old start.  The worker therefore
 * times a wait only once it has read the same waitLock and waitStart at an
 * earlier pass (it looks within half the shortest limit, so every wait is
 * seen before it matters), or once it continues a row wait timed before.
 *
 * Shared state: PGPROC wait fields, read without a lock (a stale value only
 * delays or hastens the expensive step by one pass); the lock manager's
 * tables through GetLockStatusData(), which takes its own locks.  The
 * memory of waits from pass to pass is the calling process's own (the
 * worker's), allocated once, as is the array of the lockless read.
 * Never called with a leakguard lock or ProcArrayLock held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "blocking.h"
#include "leakguard.h"

#include "storage/lock.h"
#include "storage/proc.h"

/*
 * How long a row wait stays remembered, after the last pass that saw its
 * waiter wait for the row or hold its tuple lock, while the waiter waits
 * for nothing: between two lockers of the row (a moment), or done.  The
 * worker looks every LG_MIN_SCAN_INTERVAL_MS meanwhile (the PGPROCs only).
 */
#define LG_ROW_GAP_MS			1000

/* A backend's wait read without a lock, from its PGPROC. */
typedef struct LgWaitRead
{
	int			pid;
	int			procno;
	void	   *lock;			/* its waitLock, compared, never followed;
								 * NULL: it waits for nothing */
	TimestampTz wait_start;
} LgWaitRead;

/* What the worker remembers of a PGPROC's wait from one pass to the next. */
typedef struct LgWaitSeen
{
	int			pid;			/* 0: nothing remembered */
	void	   *lock;			/* waitLock and waitStart of the last pass */
	TimestampTz wait_start;
	bool		has_row;		/* it waits for a row: the tuple lock */
	LOCKTAG		row;
	TimestampTz row_since;		/* the row wait's start, once timed */
	TimestampTz row_seen_at;	/* the last pass that saw it after the row */
} LgWaitSeen;

/* A waiter of the lock manager's copy, and the holders it waits for. */
typedef struct LgWaiter
{
	int			pid;
	TimestampTz since;			/* what its wait is timed from; 0: unknown */
	bool		timed;			/* seen before: its start can be trusted */
	bool		has_row;
	LOCKTAG		row;
	int			first_edge;
	int			nedges;
} LgWaiter;

/*
 * Indexed by PGPROC number; the worker's alone (NULL elsewhere).  lg_seen
 * is what the last pass saw, lg_seen_next what this pass sees (the two are
 * swapped at the end of a pass), allocated once.
 */
static LgWaitSeen *lg_seen = NULL;
static LgWaitSeen *lg_seen_next = NULL;

/* The lockless read of every PGPROC, allocated once per process. */
static LgWaitRead *lg_reads = NULL;

static int
lg_cmp_locktag_index(const void *a, const void *b, void *arg)
{
	const LockInstanceData *locks = (const LockInstanceData *) arg;
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;

	return memcmp(&locks[ia].locktag, &locks[ib].locktag, sizeof(LOCKTAG));
}

static int
lg_cmp_pid(int a, int b)
{
	return (a > b) - (a < b);
}

static int
lg_cmp_waiter_pid(const void *a, const void *b)
{
	return lg_cmp_pid(((const LgWaiter *) a)->pid, ((const LgWaiter *) b)->pid);
}

static int
lg_cmp_read_pid(const void *a, const void *b)
{
	return lg_cmp_pid(((const LgWaitRead *) a)->pid, ((const LgWaitRead *) b)->pid);
}

static int
lg_cmp_int(const void *a, const void *b)
{
	return lg_cmp_pid(*(const int *) a, *(const int *) b);
}

static LgWaiter *
lg_waiter_of(LgWaiter *waiters, int nwaiters, int pid)
{
	LgWaiter	key;

	key.pid = pid;
	return bsearch(&key, waiters, nwaiters, sizeof(LgWaiter), lg_cmp_waiter_pid);
}

/*
 * Append to *out (allocated in the current memory context, *nout pairs) a
 * LeakguardBlock for each pair of a backend that has waited for a lock
 * since "now" - min_wait_us or earlier and a backend holding a lock that
 * conflicts with what it waits for, or with what a backend it waits for
 * waits for.  "remember" (the worker): time waits as the header says,
 * remembering them from pass to pass; otherwise (a view) every wait is
 * taken as PostgreSQL shows it.  Returns the number of pairs; sets
 * *next_check to the earliest time a waiter that has not waited that long
 * yet will have, or a wait not yet timed can be (0: none).
 */
int
lg_blocks_find(TimestampTz now, int64 min_wait_us, bool remember,
			   LeakguardBlock **out, TimestampTz *next_check)
{
	LgWaitRead *reads;
	int			nreads = 0;
	bool		needed = false;
	LockData   *data;
	int		   *order;
	int			norder = 0;
	LgWaiter   *waiters;
	int			nwaiters = 0;
	int		   *edges;
	int			nedges = 0;
	int			max_edges;
	LgWaitSeen *seen = NULL;
	int		   *holders;		/* the distinct pids edges lead to, sorted */
	int			nholders;
	int			nwords;
	int		   *edge_holder;	/* per edge: its holder's index in holders */
	int		   *edge_waiter;	/* per edge: its holder's waiter index; -1 */
	int		   *index;			/* Tarjan's algorithm, per waiter */
	int		   *lowlink;
	int		   *component;
	bool	   *on_stack;
	int		   *stack;
	int			nstack = 0;
	int		   *calls;			/* the depth-first search's own stack */
	int		   *next_edge;
	int			nindex = 0;
	int			ncomponents = 0;
	uint64	   *reach;			/* per component: bitmap over holders */
	int			nout = 0;
	int			max_out = 16;

	*next_check = 0;
	*out = NULL;
	if (remember && lg_seen == NULL)
	{
		lg_seen = MemoryContextAllocZero(TopMemoryContext,
										 mul_size(MaxBackends, sizeof(LgWaitSeen)));
		lg_seen_next = MemoryContextAllocZero(TopMemoryContext,
											  mul_size(MaxBackends, sizeof(LgWaitSeen)));
	}
	if (lg_reads == NULL)
		lg_reads = MemoryContextAlloc(TopMemoryContext,
									  mul_size(MaxBackends, sizeof(LgWaitRead)));

	/* The lockless read: every backend, whether it waits, since when. */
	reads = lg_reads;
	for (int i = 0; i < MaxBackends; i++)
	{
		volatile PGPROC *proc = GetPGProcByNumber(i);
		LgWaitRead *r = &reads[nreads];

		r->pid = proc->pid;
		if (r->pid == 0)
			continue;
		r->procno = i;
		r->lock = proc->waitLock;
		r->wait_start = (r->lock == NULL) ? 0 : (TimestampTz)
			pg_atomic_read_u64((pg_atomic_uint64 *) &proc->waitStart);
		nreads++;
		if (r->wait_start == 0)
			continue;
		if (now - r->wait_start >= min_wait_us)
			needed = true;
		else
		{
			if (*next_check == 0 || r->wait_start + min_wait_us < *next_check)
				*next_check = r->wait_start + min_wait_us;
			/* a row wait timed before may be due already */
			if (remember && lg_seen[i].pid == r->pid && lg_seen[i].row_since != 0 &&
				now - lg_seen[i].row_seen_at <= min_wait_us)
				needed = true;
		}
	}
	if (!needed)
	{
		/*
		 * Remember the waits read.  A row wait stays remembered while its
		 * backend is the same: between two lockers of a row the waiter waits
		 * for nothing for a moment.
		 */
		if (remember)
		{
			for (int p = 0; p < MaxBackends; p++)
			{
				LgWaitSeen *s = &lg_seen[p];

				if (s->row_since == 0 || s->pid != GetPGProcByNumber(p)->pid ||
					now - s->row_seen_at > LG_ROW_GAP_MS * INT64CONST(1000))
					memset(s, 0, sizeof(LgWaitSeen));
				else
				{
					/* between two lockers: look again soon */
					TimestampTz again = now + LG_MIN_SCAN_INTERVAL_MS * INT64CONST(1000);

					if (*next_check == 0 || again < *next_check)
						*next_check = again;
				}
				s->lock = NULL;
				s->wait_start = 0;
			}
			for (int w = 0; w < nreads; w++)
			{
				LgWaitSeen *s = &lg_seen[reads[w].procno];

				if (reads[w].wait_start == 0)
					continue;
				if (s->pid != reads[w].pid)
					memset(s, 0, sizeof(LgWaitSeen));
				s->pid = reads[w].pid;
				s->lock = reads[w].lock;
				s->wait_start = reads[w].wait_start;
			}
		}
		return 0;
	}
	qsort(reads, nreads, sizeof(LgWaitRead), lg_cmp_read_pid);

	/*
	 * One copy of the lock manager's tables: every partition lock taken once.
	 * Fast-path locks are never waited for and never block a waiter (a
	 * conflicting request moves them to the main table first): left out.
	 */
	data = GetLockStatusData();
	order = palloc(mul_size(Max(data->nelements, 1), sizeof(int)));
	for (int i = 0; i < data->nelements; i++)
		if (!data->locks[i].fastpath)
			order[norder++] = i;
	qsort_arg(order, norder, sizeof(int), lg_cmp_locktag_index, data->locks);

	/* The waiters, and the tuple lock each holds or awaits. */
	waiters = palloc(mul_size(Max(norder, 1), sizeof(LgWaiter)));
	for (int j = 0; j < norder; j++)
	{
		LockInstanceData *inst = &data->locks[order[j]];

		if (inst->waitLockMode == NoLock)
			continue;
		memset(&waiters[nwaiters], 0, sizeof(LgWaiter));
		waiters[nwaiters].pid = inst->pid;
		waiters[nwaiters].since = inst->waitStart;
		if (inst->locktag.locktag_type == LOCKTAG_TUPLE)
		{
			waiters[nwaiters].has_row = true;
			waiters[nwaiters].row = inst->locktag;
		}
		nwaiters++;
	}
	qsort(waiters, nwaiters, sizeof(LgWaiter), lg_cmp_waiter_pid);
	for (int j = 0; j < norder; j++)
	{
		LockInstanceData *inst = &data->locks[order[j]];
		LgWaiter   *w;

		if (inst->locktag.locktag_type != LOCKTAG_TUPLE || inst->holdMask == 0)
			continue;
		w = lg_waiter_of(waiters, nwaiters, inst->pid);
		if (w != NULL && !w->has_row)
		{
			w->has_row = true;
			w->row = inst->locktag;
		}
	}

	/*
	 * The hard edges: in each run of one lock's instances, from each waiter
	 * to each holder of a conflicting mode outside its lock group.
	 */
	max_edges = 64;
	edges = palloc(max_edges * sizeof(int));
	for (int start = 0; start < norder;)
	{
		int			end = start + 1;

		while (end < norder &&
			   memcmp(&data->locks[order[start]].locktag,
					  &data->locks[order[end]].locktag, sizeof(LOCKTAG)) == 0)
			end++;
		for (int j = start; j < end; j++)
		{
			LockInstanceData *blocked = &data->locks[order[j]];
			LgWaiter   *w;
			LockMethod	method;
			int			conflicts;

			if (blocked->waitLockMode == NoLock)
				continue;
			w = lg_waiter_of(waiters, nwaiters, blocked->pid);
			method = GetLockTagsMethodTable(&blocked->locktag);
			conflicts = method->conflictTab[blocked->waitLockMode];
			w->first_edge = nedges;
			for (int h = start; h < end; h++)
			{
				LockInstanceData *holder = &data->locks[order[h]];

				if (h == j || holder->leaderPid == blocked->leaderPid ||
					(conflicts & holder->holdMask) == 0)
					continue;
				if (nedges == max_edges)
				{
					max_edges *= 2;
					edges = repalloc(edges, mul_size(max_edges, sizeof(int)));
				}
				edges[nedges++] = holder->pid;
			}
			w->nedges = nedges - w->first_edge;
		}
		start = end;
	}

	/*
	 * How long each waiter has waited.  The worker trusts a waitStart read at
	 * an earlier pass too, and times a row wait from its first wait.
	 */
	if (remember)
	{
		seen = lg_seen_next;
		memset(seen, 0, mul_size(MaxBackends, sizeof(LgWaitSeen)));
	}
	for (int i = 0; i < nwaiters; i++)
	{
		LgWaiter   *w = &waiters[i];
		LgWaitRead	key;
		LgWaitRead *r;
		LgWaitSeen *prev;
		LgWaitSeen *s;

		key.pid = w->pid;
		r = bsearch(&key, reads, nreads, sizeof(LgWaitRead), lg_cmp_read_pid);
		if (r == NULL)
		{
			/* not a backend (the startup process), or not yet: not timed */
			w->since = 0;
			continue;
		}
		if (!remember)
		{
			w->timed = (w->since != 0);
			continue;
		}
		prev = &lg_seen[r->procno];
		if (prev->pid != w->pid)
			prev = NULL;
		s = &seen[r->procno];
		s->pid = w->pid;
		s->has_row = w->has_row;
		s->row = w->row;
		if (r->wait_start != 0 && r->wait_start == w->since)
		{
			s->lock = r->lock;
			s->wait_start = r->wait_start;
			w->timed = (prev != NULL && prev->lock == r->lock &&
						prev->wait_start == r->wait_start);
		}
		if (prev != NULL && w->has_row && prev->has_row && prev->row_since != 0 &&
			now - prev->row_seen_at <= min_wait_us &&
			memcmp(&prev->row, &w->row, sizeof(LOCKTAG)) == 0)
		{
			/* the same row as before: timed from its first wait */
			if (w->since == 0 || prev->row_since < w->since)
				w->since = prev->row_since;
			w->timed = true;
		}
		if (w->timed && w->has_row)
		{
			s->row_since = w->since;
			s->row_seen_at = now;
		}
	}
	if (remember)
	{
		/*
		 * A waiter between two members of a row's lockers waits for nothing
		 * for a moment, still holding the tuple lock: keep its row.
		 */
		for (int j = 0; j < norder; j++)
		{
			LockInstanceData *inst = &data->locks[order[j]];
			LgWaitRead	key;
			LgWaitRead *r;
			LgWaitSeen *prev;

			if (inst->locktag.locktag_type != LOCKTAG_TUPLE || inst->holdMask == 0 ||
				lg_waiter_of(waiters, nwaiters, inst->pid) != NULL)
				continue;
			key.pid = inst->pid;
			r = bsearch(&key, reads, nreads, sizeof(LgWaitRead), lg_cmp_read_pid);
			if (r == NULL)
				continue;
			prev = &lg_seen[r->procno];
			if (prev->pid == inst->pid && prev->row_since != 0 &&
				memcmp(&prev->row, &inst->locktag, sizeof(LOCKTAG)) == 0)
			{
				TimestampTz again = now + LG_MIN_SCAN_INTERVAL_MS * INT64CONST(1000);

				seen[r->procno] = *prev;
				seen[r->procno].lock = NULL;
				seen[r->procno].wait_start = 0;
				if (*next_check == 0 || again < *next_check)
					*next_check = again;
			}
		}
		lg_seen_next = lg_seen;
		lg_seen = seen;
	}

	/*
	 * Which holders each waiter waits for, directly or through holders that
	 * wait in turn: computed once per strongly connected component of the
	 * waiters' graph (Tarjan's algorithm; a cycle is a deadlock not yet
	 * broken, all its members wait for the same holders), as a bitmap over
	 * the distinct holders.  Tarjan's algorithm completes a component after
	 * every component it reaches, so each bitmap is the union of its
	 * members' edges and of bitmaps already complete: O(W + E) steps and
	 * O(E * H / 64) words for W waiters, E edges and H holders, instead of a
	 * search from every waiter.
	 */
	nholders = 0;
	holders = palloc(mul_size(nedges + 1, sizeof(int)));
	memcpy(holders, edges, mul_size(nedges, sizeof(int)));
	qsort(holders, nedges, sizeof(int), lg_cmp_int);
	for (int e = 0; e < nedges; e++)
		if (nholders == 0 || holders[nholders - 1] != holders[e])
			holders[nholders++] = holders[e];
	nwords = (nholders + 63) / 64;
	edge_holder = palloc(mul_size(nedges + 1, sizeof(int)));
	edge_waiter = palloc(mul_size(nedges + 1, sizeof(int)));
	for (int e = 0; e < nedges; e++)
	{
		int		   *h = bsearch(&edges[e], holders, nholders, sizeof(int), lg_cmp_int);
		LgWaiter   *next = lg_waiter_of(waiters, nwaiters, edges[e]);

		Assert(h != NULL);
		edge_holder[e] = h - holders;
		edge_waiter[e] = (next != NULL) ? next - waiters : -1;
	}
	index = palloc(mul_size(nwaiters + 1, sizeof(int)));
	lowlink = palloc(mul_size(nwaiters + 1, sizeof(int)));
	component = palloc(mul_size(nwaiters + 1, sizeof(int)));
	on_stack = palloc0(mul_size(nwaiters + 1, sizeof(bool)));
	stack = palloc(mul_size(nwaiters + 1, sizeof(int)));
	calls = palloc(mul_size(nwaiters + 1, sizeof(int)));
	next_edge = palloc(mul_size(nwaiters + 1, sizeof(int)));
	reach = palloc_extended(mul_size(mul_size(Max(nwaiters, 1), Max(nwords, 1)),
									 sizeof(uint64)),
							MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int i = 0; i < nwaiters; i++)
		index[i] = -1;
	for (int root = 0; root < nwaiters; root++)
	{
		int			ncalls = 0;

		if (index[root] >= 0)
			continue;
		index[root] = lowlink[root] = nindex++;
		stack[nstack++] = root;
		on_stack[root] = true;
		next_edge[root] = waiters[root].first_edge;
		calls[ncalls++] = root;
		while (ncalls > 0)
		{
			int			v = calls[ncalls - 1];
			LgWaiter   *wv = &waiters[v];

			if (next_edge[v] < wv->first_edge + wv->nedges)
			{
				int			u = edge_waiter[next_edge[v]++];

				if (u < 0)
					continue;
				if (index[u] < 0)
				{
					index[u] = lowlink[u] = nindex++;
					stack[nstack++] = u;
					on_stack[u] = true;
					next_edge[u] = waiters[u].first_edge;
					calls[ncalls++] = u;
				}
				else if (on_stack[u])
					lowlink[v] = Min(lowlink[v], index[u]);
				continue;
			}
			ncalls--;
			if (ncalls > 0)
				lowlink[calls[ncalls - 1]] = Min(lowlink[calls[ncalls - 1]],
												 lowlink[v]);
			if (lowlink[v] == index[v])
			{
				/* v roots a component: stack[first..nstack) */
				int			first = nstack;
				uint64	   *bits = &reach[(Size) ncomponents * nwords];

				do
				{
					first--;
					component[stack[first]] = ncomponents;
					on_stack[stack[first]] = false;
				} while (stack[first] != v);
				for (int m = first; m < nstack; m++)
				{
					LgWaiter   *wm = &waiters[stack[m]];

					for (int e = wm->first_edge; e < wm->first_edge + wm->nedges; e++)
					{
						int			u = edge_waiter[e];

						bits[edge_holder[e] / 64] |=
							UINT64CONST(1) << (edge_holder[e] % 64);
						if (u >= 0 && component[u] != ncomponents)
						{
							const uint64 *other = &reach[(Size) component[u] * nwords];

							for (int k = 0; k < nwords; k++)
								bits[k] |= other[k];
						}
					}
				}
				nstack = first;
				ncomponents++;
			}
		}
	}

	/* For each waiter that has waited long enough, every holder it waits for. */
	*out = palloc(max_out * sizeof(LeakguardBlock));
	for (int i = 0; i < nwaiters; i++)
	{
		LgWaiter   *w = &waiters[i];
		const uint64 *bits;

		if (w->since == 0)
			continue;
		if (!w->timed)
		{
			/* not timed yet: look again soon */
			TimestampTz again = now + LG_MIN_SCAN_INTERVAL_MS * INT64CONST(1000);

			if (*next_check == 0 || again < *next_check)
				*next_check = again;
			continue;
		}
		if (now - w->since < min_wait_us)
		{
			if (*next_check == 0 || w->since + min_wait_us < *next_check)
				*next_check = w->since + min_wait_us;
			continue;
		}
		bits = &reach[(Size) component[i] * nwords];
		for (int h = 0; h < nholders; h++)
		{
			if ((bits[h / 64] & (UINT64CONST(1) << (h % 64))) == 0 ||
				holders[h] == w->pid)
				continue;
			if (nout == max_out)
			{
				max_out *= 2;
				*out = repalloc(*out, mul_size(max_out, sizeof(LeakguardBlock)));
			}
			(*out)[nout].waiter_pid = w->pid;
			(*out)[nout].blocker_pid = holders[h];
			(*out)[nout].wait_start = w->since;
			(*out)[nout].row = w->has_row;
			nout++;
		}
	}
	return nout;
}
