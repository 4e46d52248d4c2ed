/*-------------------------------------------------------------------------
 *
 * sources.h
 *		Leak sources: the statements after which sessions leaked, counted
 *		per application, role, database, kind and statement (sources.c).
 *
 * A source is keyed by the query id the server computed for the session's
 * last statement (PgBackendStatus.st_query_id, the id pg_stat_statements
 * and pg_stat_activity show), or, when it computed none (compute_query_id
 * off), by a fingerprint of the statement's text without its constants
 * (fingerprint.h).
 *
 * Locking: the table (LeakguardSources, its entries, its lists and both
 * hash tables) is under LeakguardShared->lock, like the statistics it
 * belongs with: the worker records sources in the same exclusive
 * acquisition in which it records the terminations (lg_record_batch()),
 * so recording takes no lock of its own; reset() clears them under the
 * lock held exclusive; readers copy entries in chunks under it held shared
 * (lg_lock_reader()).  The postmaster loads and saves them while no other
 * process is attached, without the lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SOURCES_H
#define LEAKGUARD_SOURCES_H

#include "leakguard.h"
#include "stats.h"

#include "lib/ilist.h"

/* Sources copied per acquisition of the lock by leak_sources(). */
#define LG_SOURCES_CHUNK		64

/*
 * A source that leaked within this long is not pushed out by the least
 * recently seen rule alone (see lg_source_victim()).
 */
#define LG_SOURCE_RECENT_US		USECS_PER_HOUR

/*
 * What identifies a source.  Hashed and compared as bytes: no padding, and
 * the unused bytes of appname are zero.
 */
typedef struct LeakguardSourceKey
{
	int64		id;				/* the query id, or the text's fingerprint */
	Oid			userid;
	Oid			datid;
	int32		kind;			/* LeakguardKind, a kind on sessions */
	int32		by_text;		/* 1: id is a fingerprint of the text */
	char		appname[NAMEDATALEN];
} LeakguardSourceKey;

/* What is kept of a source, and written to its file. */
typedef struct LeakguardSourceData
{
	LeakguardSourceKey key;
	int64		leaks;			/* sessions that leaked: terminated, or
								 * reported in dry_run */
	int64		dry_run;		/* of those, reported only */
	int64		total_held_us;	/* how long they had held, added up */
	int64		max_held_us;
	TimestampTz first_seen;
	TimestampTz last_seen;
	SockAddr	client_addr;	/* of the last one */
	char		query[LG_QUERY_TEXT_LEN];	/* the last one's statement */
} LeakguardSourceData;

/* An entry of the table: in use and on the lists, or on the free list. */
typedef struct LeakguardSource
{
	LeakguardSourceData data;
	bool		in_use;
	dlist_node	lru;			/* in_use: LeakguardSources->lru, least
								 * recently seen first; else ->free */
	dlist_node	role_lru;		/* in_use: its role's list, in the same
								 * order */
	struct LgSourceRole *role;	/* in_use: its role's entry */
} LeakguardSource;

/* sources.c */
extern Size lg_sources_shmem_size(void);
extern void lg_sources_shmem_init(void);
extern void lg_sources_record(const LeakguardEvent *ev, int64 query_id);
extern void lg_sources_reset(void);
extern uint64 lg_sources_evicted(void);
extern int	lg_sources_copy(int *next, LeakguardSourceData *out);

#endif							/* LEAKGUARD_SOURCES_H */
