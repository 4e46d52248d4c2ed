/*-------------------------------------------------------------------------
 *
 * stats.h
 *		The statistics per application, the kind counts, and the history
 *		events (kept in shared memory by shmem.c, saved by persist.c).
 *
 * Shared state: Under LeakguardShared->lock, as shmem.h says.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_STATS_H
#define LEAKGUARD_STATS_H

#include "datatype/timestamp.h"
#include "libpq/pqcomm.h"

#include "histogram.h"
#include "kinds.h"
#include "leakguard.h"

/* Idle-time histogram buckets. */
#define LG_NUM_BUCKETS			5

/* Days of peak connections kept per application (today and the six before). */
#define LG_PEAK_DAYS			7

/* Blocked pids a termination for blocking records. */
#define LG_BLOCKED_PIDS			8

/* What was done when a session reached its deadline. */
typedef enum LeakguardAction
{
	LG_ACTION_TERMINATED,
	LG_ACTION_DRY_RUN,
	LG_ACTION_BECAME_ACTIVE,	/* skipped: it ran a statement meanwhile */
	LG_ACTION_GONE,				/* skipped: it left, or its pid is another's */
	LG_ACTION_SUPERUSER,		/* reported only: terminate_superusers off */
	LG_ACTION_REFUSED,			/* a connection refused by its quota */
	LG_ACTION_CANCELLED			/* its statement cancelled */
} LeakguardAction;

#define LG_ACTION_LAST			LG_ACTION_CANCELLED

/*
 * What one kind of limit did to one application's sessions: acted on
 * (terminated, cancelled, refused: enforce mode), and would have (dry_run,
 * or a superuser's session reported only is not counted), and when last.
 */
typedef struct LeakguardKindCounts
{
	int64		acted;
	int64		dry_run;
	TimestampTz last_at;		/* 0 = never */
} LeakguardKindCounts;

/*
 * Accumulated statistics of one application; the entries of the statistics
 * hash table (key: name) and the overflow entry.  Written under
 * LeakguardShared->lock exclusive: by the worker, by reset(), and by a
 * backend that hands over the episodes it recorded under another name
 * (episodes.c).
 */
typedef struct LeakguardAppStats
{
	char		name[NAMEDATALEN];	/* hash key; must be first */
	int64		peak_connections;
	int64		episodes;
	int64		total_idle_us;
	int64		max_idle_us;
	int64		buckets[LG_NUM_BUCKETS];
	TimestampTz last_terminated_at; /* 0 = never */
	TimestampTz first_seen;
	uint64		scan_no;		/* the worker's count scan_connections is of */
	int32		scan_connections;	/* connections seen, as of the last scan */
	int32		daily_peaks[LG_PEAK_DAYS];	/* peak of day d in [d % LG_PEAK_DAYS] */
	int64		peak_day;		/* day (UTC, since 2000) of the newest peak */
	LeakguardHistogram observed[LG_NUM_OBSERVED];	/* LeakguardObserved */
	LeakguardKindCounts kinds[LG_NUM_KINDS];	/* by LeakguardKind */
} LeakguardAppStats;

/*
 * An entry of the statistics hash table: the statistics (first, so that
 * the hash key is the entry's first field and a pointer to the entry is
 * one to its statistics), and what decides which entry makes room when
 * the table is full (shmem.c).  Kept in shared memory only, not in the
 * statistics file.  Under LeakguardShared->lock, as the statistics.
 */
typedef struct LeakguardAppEntry
{
	LeakguardAppStats stats;	/* must be first */
	TimestampTz last_seen;		/* last looked up by lg_stats_entry() */
	Oid			owner;			/* login role of the session that made it;
								 * InvalidOid: read from the statistics
								 * file */
	int			index;			/* its place in LeakguardShared->apps */
} LeakguardAppEntry;

/*
 * When the statistics table is full, an entry with a termination this
 * recent (enforce mode) keeps its row (shmem.c).
 */
#define LG_STATS_KEEP_TERMINATED_US	(INT64CONST(3600) * USECS_PER_SEC)

/*
 * The share of the statistics table one login role may take from others
 * when it is full: max_applications / LG_STATS_SHARE_DIVISOR rows, at least
 * one.  A role that holds its share makes room from its own rows.
 */
#define LG_STATS_SHARE_DIVISOR	10

/*
 * One row of leakguard.terminations.  The history ring keeps terminations
 * as such; refused connections are kept as LeakguardRefusal.
 */
typedef struct LeakguardEvent
{
	TimestampTz at;
	int			pid;
	int			action;			/* LeakguardAction */
	int			kind;			/* LeakguardKind */
	Oid			datid;
	Oid			userid;
	TimestampTz backend_start;
	TimestampTz xact_start;
	TimestampTz state_change;
	TimestampTz query_start;	/* kinds about one statement */
	int64		lasted_us;		/* how long its period had lasted */
	int64		limit;			/* the limit: ms, or transactions for a
								 * kind measured in transactions */
	int64		xmin_age;		/* kinds measured in transactions: the age
								 * of its xmin or xid when it was judged */
	int64		blocked_us;		/* blocking: how long it had kept the first
								 * of them waiting */
	int			nblocked;		/* blocking: sessions waiting for its locks */
	int			blocked_pids[LG_BLOCKED_PIDS];	/* the first of them */
	SockAddr	client_addr;
	char		appname[NAMEDATALEN];
	char		rule[LG_RULE_TEXT_LEN];
	char		query[LG_QUERY_TEXT_LEN];
} LeakguardEvent;

/*
 * A connection refused by its quota (or that dry_run would have refused):
 * the fields of its LeakguardEvent that apply to it, in a history ring of
 * its own, so that refusals can push out only older refusals, never a
 * termination.  lg_refusal_event() turns it back into the event.
 */
typedef struct LeakguardRefusal
{
	TimestampTz at;
	TimestampTz backend_start;
	int			pid;
	int			action;			/* LG_ACTION_REFUSED or LG_ACTION_DRY_RUN */
	Oid			datid;
	Oid			userid;
	SockAddr	client_addr;
	char		appname[NAMEDATALEN];
	char		rule[LG_RULE_TEXT_LEN];
} LeakguardRefusal;

/* shmem.c: the statistics and the history */
extern struct HTAB *lg_app_hash;

extern LeakguardAppStats *lg_stats_entry(const char *appname, Oid owner,
										 TimestampTz now);
extern bool lg_stats_known(const char *appname);
extern void lg_stats_merge(LeakguardAppStats *dst, const LeakguardAppStats *src);
extern void lg_stats_full_report(void);
extern void lg_stats_add_episode(LeakguardAppStats *entry, int64 idle_us);
extern void lg_stats_count_connections(LeakguardAppStats *entry,
									   TimestampTz now);
extern int32 lg_stats_window_peak(const LeakguardAppStats *entry,
								  TimestampTz now);
extern void lg_history_add(const LeakguardEvent *event);
extern void lg_refusal_event(const LeakguardRefusal *refusal,
							 LeakguardEvent *event);
extern void lg_stats_reset(TimestampTz now);

#endif							/* LEAKGUARD_STATS_H */
