/*-------------------------------------------------------------------------
 *
 * measure.h
 *		The limits that are no deadline, read at every scan for the
 *		sessions they concern: in transactions (measure_xid.c), and the
 *		time another session waits for a session's locks (measure_lock.c).
 *
 * Each adds to the candidates a scan collected (lg_tracker, tracker.h) and
 * returns their new count.  Worker-local state only: no lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_MEASURE_H
#define LEAKGUARD_MEASURE_H

#include "stats.h"

/* What a candidate for the blocking limit blocks (measure_lock.c). */
typedef struct LgBlocked
{
	int			nblocked;
	int			pids[LG_BLOCKED_PIDS];
	int64		blocked_us;
	uint64		pass;			/* lg_blocking_pass it is a candidate for
								 * blocking in */
} LgBlocked;

/* measure_xid.c */
extern int	lg_xid_age_due(int n);

/* measure_lock.c */
extern void lg_blocking_init(void);
extern void lg_blocking_configure(void);
extern int	lg_blocking_due(int n, TimestampTz now, int64 now_us,
							int64 *nearest_us);
extern const LgBlocked *lg_blocking_of(int slot);

#endif							/* LEAKGUARD_MEASURE_H */
