/*-------------------------------------------------------------------------
 *
 * terminate.h
 *		Exemptions, the last look at a session before it is signalled, and
 *		the signal (terminate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_TERMINATE_H
#define LEAKGUARD_TERMINATE_H

#include "kinds.h"
#include "shmem.h"
#include "stats.h"

/*
 * Victims re-checked and signalled per acquisition of ProcArrayLock (see
 * terminate.c); 0 means the whole batch under one acquisition.  The figure
 * comes from test/bench/procarray.sh, which builds copies with others.
 */
#ifndef LG_TERMINATE_GROUP
#define LG_TERMINATE_GROUP		16
#endif

/*
 * A session past its deadline and what became of it.  The worker fills the
 * event's identity fields (pid, backend_start, xact_start, state_change,
 * datid, userid, appname, limit, rule) from what the scan saw;
 * lg_terminate_batch() re-checks against them and fills in the rest.
 */
typedef struct LeakguardTermination
{
	int			slot;
	bool		superuser;		/* report only */
	bool		repeat;			/* same outcome as already recorded */
	int64		origin_us;		/* when the period of event.kind began, on
								 * the monotonic clock (lg_monotonic_us) */
	int64		query_id;		/* of its last statement (0: none), read
								 * with event.query (sources.c) */
	LeakguardEvent event;
} LeakguardTermination;

/* terminate.c */
extern void lg_terminate_batch(LeakguardTermination *items, int n, int mode,
							   double *lock_wait_ms);
extern int	lg_signal_due(int ncand, LeakguardTermination *batch,
						  double *exempt_ms, double *lock_wait_ms);
extern bool lg_victim_take(LeakguardVictim *out, LeakguardKindAction action);

#endif							/* LEAKGUARD_TERMINATE_H */
