/*-------------------------------------------------------------------------
 *
 * blocking.h
 *		Lock waiters and the sessions that block them (blocking.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_BLOCKING_H
#define LEAKGUARD_BLOCKING_H

#include "datatype/timestamp.h"

/* A session waiting for a lock that another holds (blocking.c). */
typedef struct LeakguardBlock
{
	int			waiter_pid;
	int			blocker_pid;
	TimestampTz wait_start;		/* since when the waiter waits (blocking.c) */
	bool		row;			/* for a row: more of its lockers may follow */
} LeakguardBlock;

/* blocking.c */
extern int	lg_blocks_find(TimestampTz now, int64 min_wait_us, bool remember,
						   LeakguardBlock **out, TimestampTz *next_check);

#endif							/* LEAKGUARD_BLOCKING_H */
