/*-------------------------------------------------------------------------
 *
 * publish.h
 *		The worker's publishing of a scan (publish.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_PUBLISH_H
#define LEAKGUARD_PUBLISH_H

#include "stats.h"
#include "terminate.h"

extern void lg_publish_ended(TimestampTz now);
extern void lg_publish_connections(uint64 scan_no, TimestampTz now);
extern int	lg_record_batch(LeakguardTermination *items, int n);
extern void lg_log_event(const LeakguardEvent *ev);
extern void lg_check_connections(int nclients);

#endif							/* LEAKGUARD_PUBLISH_H */
