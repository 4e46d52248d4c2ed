/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		The shared-memory layout (LeakguardShared and the arrays that follow
 *		it) and its locking note (shmem.c).
 *
 * Locking, in one place:
 *
 *	- LeakguardShared->lock (one LWLock, tranche "leakguard") protects every
 *	  field of LeakguardShared, the statistics hash table with its list
 *	  (apps) and its count of entries per role (shmem.c), and the history
 *	  rings unless a field's comment says otherwise.
 *	  The worker takes it exclusive once per scan to publish what it found;
 *	  readers take it shared to copy.  No other lock is ever acquired while
 *	  holding it, and no ereport above DEBUG happens under it.  LWLocks let
 *	  new shared holders in while an exclusive waiter queues, so readers
 *	  that loop (a long history or many applications read in chunks, a
 *	  monitoring scrape) could keep the worker waiting: readers therefore
 *	  take it through lg_lock_reader(), which first lets a waiting worker
 *	  in (worker_waiting, set by lg_lock_worker()) for at most
 *	  LG_READER_YIELD_US.
 *	- The leak sources (sources.h: their table, lists and hashes) are under
 *	  LeakguardShared->lock too: the worker records them in the
 *	  acquisition in which it records the terminations, reset() clears
 *	  them with the statistics, readers copy them in chunks.
 *	- LeakguardMark slots belong to the worker (one process at a time):
 *	  no lock.
 *	- In a LeakguardEpisodeSlot and its head, the counts, the list of the
 *	  latest records and the change counter are written
 *	  by the owning backend alone, with no lock (see episodes.c); what was
 *	  folded of them, and the name they belong to, under
 *	  LeakguardShared->lock.  The bitmap of slots with records not yet
 *	  folded (episode_pending) is made of atomic words: the owner sets its
 *	  bit, the fold clears the bits of a word at once; no lock.
 *	- Each LeakguardVictim has its own spinlock.  The worker fills a victim
 *	  slot just before it signals that backend; the backend reads its own slot
 *	  from emit_log_hook while it reports its FATAL error, where taking an
 *	  LWLock would be unsafe.
 *	- LeakguardShared->quota_lock (second lock of the tranche) protects the
 *	  LeakguardQuotaSlot array (who holds a connection of which application)
 *	  and the shared hash table of quota counts, and quota_rules_id.
 *	  Backends take it exclusive at authentication, when their
 *	  application_name changes (around a statement, before a commit, when
 *	  a transaction's end reverts it) and at exit, never with another lock
 *	  held, and never while reporting an error.  The backend that finds the
 *	  counts keyed by other rules than its own counts every charged
 *	  connection again under this hold (quota.c).
 *	- The table of prepared transactions (LeakguardShared->prepared and
 *	  the fields named prepared_*) is under LeakguardShared->lock: the
 *	  helper of prepared.c takes it exclusive to claim its turn (one helper
 *	  runs at a time: prepared_helper_pid), to replace the table and at
 *	  exit; the worker takes it shared to copy the table, only when a
 *	  prepared transaction may be due.
 *	- The client-slot bitmap (scan.c) is made of atomic words: a backend
 *	  sets and clears only its own bit, the worker only reads; no lock.
 *	- ProcArrayLock (shared) is held by the worker around the final re-check
 *	  and kill() of a victim, so the victim cannot leave the proc array (and
 *	  its pid cannot be reused) between the check and the signal.  It is
 *	  held for at most LG_TERMINATE_GROUP victims at a time, never for a
 *	  whole batch: every exclusive acquirer (a commit that clears an xid,
 *	  a backend starting or exiting, the victims' own exits) waits for it.
 *
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SHMEM_H
#define LEAKGUARD_SHMEM_H

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "histogram.h"
#include "kinds.h"
#include "leakguard.h"
#include "quota.h"
#include "stats.h"

/* Version of the shared-memory layout (the statistics file has its own). */
#define LG_FORMAT_VERSION		5

/*
 * What the worker recorded for the period of one kind of limit (idle in
 * transaction, idle, transaction) of the backend in one slot: the last
 * outcome it counted (terminated, dry_run, ...), so that a restarted worker
 * neither signals nor counts the same period twice.  One per slot and kind
 * (LG_MARK()).  Owned by the worker: only the one worker process reads or
 * writes these, and a restarted worker inherits them; no lock.
 */
typedef struct LeakguardMark
{
	int			pid;			/* 0: nothing recorded */
	TimestampTz backend_start;
	TimestampTz since;			/* the period's start
								 * (lg_kinds[].period_start) */
	int			action;			/* LeakguardAction recorded */
} LeakguardMark;

#define LG_MARK(slot, kind)		(&lg_shared->marks[(slot) * LG_NUM_KINDS + (kind)])

/* The latest records a slot keeps as a list, for a cheap fold. */
#define LG_EPISODE_RING			32

/*
 * The idle periods and transactions a backend slot's sessions ended
 * (episodes.c): how many, and the latest of them as a list (record n, the
 * value of changes it set, is in ring[n % LG_EPISODE_RING], as observed *
 * LG_HIST_BUCKETS + bucket).  The heads of all slots lie together, one per
 * cache line, so that the worker's pass over those of the slots with new
 * records (episode_pending) reads a few pages; the counts per bucket are in the
 * LeakguardEpisodeSlot of the same index.  changes and counts only grow
 * (modulo 2^32), from one backend in the slot to the next.
 */
typedef struct LeakguardEpisodeHead
{
	pg_atomic_uint32 changes;	/* bumped after each record; owner, no lock */
	uint32		seen_changes;	/* changes when last folded; lock */
	uint16		ring[LG_EPISODE_RING];	/* owner, no lock */
	struct LeakguardAppStats *entry;	/* the statistics entry of the slot's
										 * appname, if entry_generation is
										 * current; lock */
	uint64		entry_generation;	/* stats_generation of entry; lock */
} LeakguardEpisodeHead;

typedef union LeakguardEpisodeHeadPadded
{
	LeakguardEpisodeHead head;
	char		pad[PG_CACHE_LINE_SIZE];
} LeakguardEpisodeHeadPadded;

typedef struct LeakguardEpisodeSlot
{
	char		appname[NAMEDATALEN];	/* whose counts; lock (the owner
										 * writes it, and reads it without) */
	Oid			userid;			/* login role of the backend that set
								 * appname; lock */
	uint32		counts[LG_NUM_OBSERVED][LG_HIST_BUCKETS];	/* owner, no lock */
	uint32		seen[LG_NUM_OBSERVED][LG_HIST_BUCKETS]; /* folded; lock */
} LeakguardEpisodeSlot;

/*
 * Set by the worker just before it signals a backend, read by that backend
 * when it reports its FATAL error.  Protected by its own mutex.
 */
typedef struct LeakguardVictim
{
	slock_t		mutex;
	int			pid;			/* 0: no mark */
	int			kind;			/* LeakguardKind, a session limit */
	TimestampTz backend_start;	/* with pid, identifies the backend */
	TimestampTz query_start;	/* a cancel: of the statement it is for */
	int64		lasted_us;		/* how long its period had lasted */
	int64		limit;			/* the limit, in the unit of the kind */
	int64		xmin_age;
	int64		blocked_us;
	int			nblocked;
	char		appname[NAMEDATALEN];
	char		rule[LG_RULE_TEXT_LEN];
} LeakguardVictim;

/*
 * A prepared transaction as the helper of prepared.c last read it from
 * pg_prepared_xacts, and whether it was warned about: an entry of
 * LeakguardShared->prepared, under LeakguardShared->lock.  (xid,
 * prepared_at) names one prepared transaction.
 */
typedef struct LeakguardPrepared
{
	TransactionId xid;
	TimestampTz prepared_at;
	bool		warned;			/* its WARNING was logged */
} LeakguardPrepared;

typedef struct LeakguardShared
{
	uint32		format;			/* LG_FORMAT_VERSION; constant */
	LWLock	   *lock;			/* constant after start */
	LWLock	   *quota_lock;		/* constant after start */
	uint64		quota_rules_id; /* the connection rules the quota counts'
								 * keys refer to (lg_quota_rules_id());
								 * quota_lock */
	pg_atomic_uint32 worker_waiting;	/* the worker waits for lock (no lock) */
	bool		worker_registered;	/* constant after start */
	bool		worker_disabled;	/* the worker cannot run; set once */
	char		worker_error[LG_CONFIG_ERROR_LEN];	/* why, if disabled */

	/* the worker */
	int			worker_pid;		/* 0: no worker runs */
	Latch	   *worker_latch;

	/*
	 * 1 while the worker sleeps longer than the limits of kinds in a
	 * transaction block would allow, because no session was in one: the
	 * first session to begin one swaps it to 0 and sets worker_latch
	 * (lg_block_begun(), episodes.c; worker.c).
	 */
	pg_atomic_uint32 block_watch;
	TimestampTz worker_started_at;
	int			worker_mode;	/* LeakguardMode in force in the worker */
	uint64		scans;
	uint64		terminated;		/* since the server started */
	uint64		dry_run;
	uint64		skipped;
	TimestampTz last_scan_at;
	TimestampTz next_wakeup_at;
	double		scan_time_total_ms;
	double		scan_time_max_ms;
	char		config_error[LG_CONFIG_ERROR_LEN];	/* "": none */
	bool		config_checked; /* the worker judged the files once */
	bool		config_unsafe;	/* no valid settings loaded: report only;
								 * part of the policy in force (below) */
	char		rules[LG_RULES_TEXT_LEN];	/* the worker's rules */

	/*
	 * What the postmaster found wrong in the values it started with, and
	 * the time of that load of the configuration files (PgReloadTime): the
	 * findings hold while the postmaster has not loaded the files again.
	 * Written by the postmaster at every initialisation; constant after.
	 */
	char		start_errors[LG_CONFIG_ERROR_LEN];
	TimestampTz start_load_time;

	/*
	 * The policy in force (settings.c): the value of every setting a reload
	 * can change, each NUL-terminated, policy_len bytes in all, which with
	 * config_unsafe (report only) every process applies; and when the worker
	 * last judged the configuration files (0: not since shared memory was
	 * initialised; the postmaster's values are then in force).  Written by
	 * the worker under the lock, with policy_generation bumped (atomic:
	 * every process compares it, without the lock, with the generation it
	 * applies).
	 */
	TimestampTz policy_judged_at;
	pg_atomic_uint64 policy_generation;
	Size		policy_len;
	char		policy[LG_POLICY_LEN];

	/* check(): requests and their completion */
	pg_atomic_uint64 check_requested;	/* bumped under the lock; the
										 * worker reads it without */
	uint64		check_completed;
	int64		check_result;
	ConditionVariable check_cv; /* has its own locking */

	/* statistics */
	TimestampTz stats_reset;
	uint64		reset_generation;	/* bumped by reset() */
	LeakguardAppStats overflow;
	uint64		history_count;	/* events ever written to history, refusals
								 * aside; next slot is history_count %
								 * history_size */
	uint64		refusal_count;	/* refusals ever written; next slot is
								 * refusal_count % history_size */
	int			app_count;		/* entries of the statistics hash, listed
								 * in apps[0 .. app_count - 1] */
	bool		stats_full;		/* a new application found the table full
								 * since the start or the last reset(): the
								 * process that set it logs it (once) */
	uint64		stats_generation;	/* bumped by reset() and whenever an
									 * entry is removed to make room: a
									 * pointer to an entry, or a place in
									 * apps, taken under an older one may
									 * be another's */
	uint64		stats_evicted;	/* entries removed to make room since the
								 * server started */
	uint64		count_scan;		/* the worker's full count of connections
								 * that entries' scan_connections are of
								 * (publish.c); 0: none yet */

	/* arrays that follow in the same allocation */
	LeakguardVictim *victims;	/* [MaxBackends], constant pointer */
	LeakguardMark *marks;		/* [MaxBackends * LG_NUM_KINDS], constant
								 * pointer; see LG_MARK() */
	LeakguardQuotaSlot *quota;	/* [MaxBackends], constant pointer */
	LeakguardEpisodeHeadPadded *episode_heads;	/* [MaxBackends], constant
												 * pointer */
	LeakguardEpisodeSlot *episodes; /* [MaxBackends], constant pointer */
	pg_atomic_uint32 *episode_pending;	/* [(MaxBackends + 31) / 32],
										 * constant pointer: bit i set by
										 * slot i's owner after it records,
										 * cleared by the fold; atomic, no
										 * lock */
	LeakguardEvent *history;	/* [history_size], constant pointer */
	LeakguardRefusal *refusals; /* [history_size], constant pointer */
	LeakguardAppStats **apps;	/* [max_applications], constant pointer: the
								 * hash's entries in the order they were
								 * made, so readers can copy them in chunks */

	/* prepared transactions (prepared.c) */
	LeakguardPrepared *prepared;	/* [max_prepared_xacts], constant
									 * pointer; entries under lock */
	int			prepared_count; /* entries in use, as of the helper's last
								 * reading; lock */
	int			prepared_helper_pid;	/* the helper that runs; 0: none;
										 * lock */
} LeakguardShared;

/* shmem.c */
extern LeakguardShared *lg_shared;
extern bool lg_worker_unregistered;

extern void lg_shmem_request(void);
extern bool lg_shmem_startup(void);
extern void lg_require_shmem(void);

extern void lg_lock_worker(void);
extern void lg_lock_reader(void);

#endif							/* LEAKGUARD_SHMEM_H */
