/*-------------------------------------------------------------------------
 *
 * sqlfuncs.h
 *		What the SQL-callable functions share (sqlfuncs.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SQLFUNCS_H
#define LEAKGUARD_SQLFUNCS_H

#include "access/tupdesc.h"
#include "fmgr.h"

#include "stats.h"

/* sqlfuncs.c */
extern Datum lg_interval_us(int64 us);
extern void lg_check_result_columns(struct TupleDescData *desc, int w10,
									 int w11, int w12, int w13);
extern long lg_stats_copy(LeakguardAppStats *entries,
						  LeakguardAppStats *overflow,
						  TimestampTz *stats_reset);

#endif							/* LEAKGUARD_SQLFUNCS_H */
