/*-------------------------------------------------------------------------
 *
 * tracker.h
 *		What the worker remembers of each backend slot between scans: the
 *		periods of each kind of limit, their deadlines, and the candidates
 *		a scan collects (tracker.c).
 *
 * The state lives in the worker's local memory (lg_tracker), allocated once
 * at start: only the worker process reads or writes it, so it has no lock.
 * tracker.c follows the slots; the measures read at every scan
 * (measure_xid.c, measure_lock.c) add candidates; terminate.c signals them;
 * publish.c records them and counts connections; worker.c runs the loop.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_TRACKER_H
#define LEAKGUARD_TRACKER_H

#include "kinds.h"
#include "sessionlimits.h"
#include "stats.h"

/*
 * One period of one kind of limit (lg_kinds[]) in a slot: idle in
 * transaction, idle, in a transaction.  A backend can be in several at
 * once (idle in transaction is also in a transaction).
 */
typedef struct LgPeriod
{
	bool		active;			/* the backend is in such a period */
	TimestampTz since;			/* its start: state_change or xact_start */
	int64		origin_us;		/* its start on the monotonic clock, as
								 * estimated when first seen */
	bool		reported;		/* handled otherwise until the next reload */
	int			last_action;	/* LeakguardAction recorded, or -1 */
} LgPeriod;

/* What the worker remembers of one backend slot between scans. */
typedef struct LgSlot
{
	int			pid;			/* 0: no client backend seen here */
	TimestampTz proc_start;
	Oid			datid;
	Oid			userid;
	char		appname[NAMEDATALEN];
	bool		citus_internal; /* appname is a Citus internal connection's */

	/*
	 * statistics entry the slot is counted in (connections); NULL: not yet,
	 * the next publish counts it
	 */
	LeakguardAppStats *entry;

	/*
	 * limits of each kind on sessions for this session; valid if
	 * limit_generation == lg_tracker.config_generation
	 */
	LeakguardLimit limits[LG_NUM_KINDS];
	uint64		limit_generation;

	/* the periods it is in, by kind */
	LgPeriod	periods[LG_NUM_KINDS];
	TimestampTz xact_start;		/* of the transaction it was last seen in */
	bool		signalled;		/* terminated: never again */
	uint32		superuser_kinds;	/* bit k: a period of kind k was reported
									 * as a superuser's; later ones are not */
	bool		counted;		/* its idle-in-transaction episode was
								 * added to the statistics */
} LgSlot;

/* An episode that ended during a scan, counted when the scan publishes. */
typedef struct LgEndedEpisode
{
	char		appname[NAMEDATALEN];
	Oid			userid;
	int64		idle_us;
} LgEndedEpisode;

/*
 * The worker's per-slot state, one of each array entry per backend slot
 * ([MaxBackends], or a bit per slot in [(MaxBackends + 31) / 32] words).
 */
typedef struct LgTracker
{
	LgSlot	   *slots;

	/*
	 * What the last complete read of each status slot saw, kept apart from
	 * LgSlot so that a scan over slots that did not change touches little
	 * memory: its st_changecount (odd: read the slot again; -1: a
	 * candidate), and the deadline of the earliest period it was in, on the
	 * monotonic clock (0: none).
	 */
	int		   *counts;
	int64	   *deadlines;

	/* The idle-in-transaction episodes that ended during the scan. */
	LgEndedEpisode *ended;
	int			nended;

	/* Client backends in slots (slots with pid != 0), and a bit for each. */
	int			nclients;
	uint32	   *following;

	/* The slots a scan reads (lg_client_slots()), and those that changed. */
	int		   *to_read;
	int			nread;
	int		   *changed;

	/*
	 * Connection counts are kept up to date at each publish from what
	 * changed during the scan: the entries that slots left, and the slots to
	 * count in an entry (publish.c).  recount: the slots were all taken up
	 * afresh (the first scan, after a reload): the next publish counts
	 * every connection again.
	 */
	LeakguardAppStats **left;
	int			nleft;
	int		   *joined;
	int			njoined;
	bool		recount;

	/* The sessions a scan found due, and the kind each is due for (-1: by
	 * deadline). */
	int		   *candidates;
	int		   *candidate_kinds;

	/*
	 * The slots in a period of a kind measured in transactions, with a
	 * limit, not handled yet: read at every scan, changed or not
	 * (lg_xid_age_due).
	 */
	uint32	   *xid_watch;

	/*
	 * The slots whose last read state was neither idle nor undefined (a
	 * backend starting): running, idle in transaction (aborted or not), in
	 * a fast-path call, or not reported (track_activities off, which its
	 * superuser may turn on inside a block).  A session in a transaction
	 * block is in one of these; one that is idle is not in one.  any_busy:
	 * the last scan found a bit set, a session not idle.
	 */
	uint32	   *busy;
	bool		any_busy;

	/*
	 * Bumped at every reload, and when a role or database name may have
	 * changed (lg_names_generation): every cached limit is recomputed.
	 */
	uint64		config_generation;

	/*
	 * The monotonic time at which the previous scan began (0: none since the
	 * slots were last cleared): a period a scan sees for the first time
	 * began after it.
	 */
	int64		prev_scan_us;

	/*
	 * This worker did not take up its predecessor's policy but judged the
	 * files (a reload came while no worker ran): what the predecessor only
	 * reported is examined again, as after a reload, and recorded again
	 * only if the outcome differs.
	 */
	bool		recheck_reported;
} LgTracker;

extern LgTracker lg_tracker;

/* Bring the deadline *nearest_us (0: none) forward to deadline_us. */
static inline void
lg_nearer(int64 *nearest_us, int64 deadline_us)
{
	if (*nearest_us == 0 || deadline_us < *nearest_us)
		*nearest_us = deadline_us;
}

/* Add slot to the n candidates, due for kind k (-1: by deadline). */
static inline int
lg_add_candidate(int n, int slot, int k)
{
	lg_tracker.candidate_kinds[n] = k;
	lg_tracker.candidates[n] = slot;
	lg_tracker.counts[slot] = -1;
	lg_tracker.deadlines[slot] = 0;
	return n + 1;
}

extern TimestampTz lg_clock_now(void);
extern void lg_tracker_init(void);
extern void lg_tracker_forget(void);
extern void lg_tracker_reexamine(void);
extern int	lg_scan_backends(TimestampTz now, int64 now_us, int64 *nearest_us);
extern int	lg_slot_next_kind(const LgSlot *s, int64 *deadline_us);

#endif							/* LEAKGUARD_TRACKER_H */
