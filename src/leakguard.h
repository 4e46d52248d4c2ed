/*-------------------------------------------------------------------------
 *
 * leakguard.h
 *		Types and functions shared by leakguard's source files.
 *
 * leakguard terminates client sessions that stay idle in transaction, or
 * idle, longer than the limit set for their application_name, and refuses
 * connections beyond an application's quota.  The pieces:
 *
 *		leakguard.c	_PG_init, hook installation
 *		settings.c	GUC definitions, check and assign hooks, the parsed rules
 *		rules.c		rule parser and glob matcher (plain C, fuzzed alone)
 *		histogram.c	log-linear histograms of durations (plain C)
 *		kinds.c		the kinds of limit: one row each (which sessions, from
 *					which start, which rules, SQLSTATE, message, counters)
 *		limits.c	what applies to one session: rule, timeout, exemption
 *		shmem.c		shared state: worker status, statistics, history
 *		persist.c	statistics file written at clean shutdown, read at start
 *		scan.c		reading the backend status array (the worker's hot path)
 *		worker.c	the background worker: latch loop, scans, scheduling
 *		terminate.c	re-check under ProcArrayLock, signal, victim marks
 *		blocking.c	lock waiters and the sessions that block them
 *		report.c	emit_log_hook rewriting the victim's FATAL message
 *		episodes.c	each backend records its own finished idle periods and
 *					transactions; the worker folds them into the statistics
 *		quota.c		connection quotas: admission at authentication and
 *					at every change of application_name
 *		quotacount.c	shared connection counts per quota rule and the names
 *					it counts by, for admission in constant time
 *		names.c		the worker's cache of role and database names
 *		prepared.c	the warning for prepared transactions left unfinished:
 *					the worker watches their dummy PGPROCs, a short-lived
 *					helper reads pg_prepared_xacts and logs
 *		citus.c		Citus's internal connections: which they are, the
 *					statistics row they are counted in
 *		sources.c	leak sources: the statement each ended session ran
 *					last, counted per application, role, database and
 *					kind (sources.h), kept in their own file
 *		fingerprint.c	a statement's text without its constants, hashed
 *					(plain C): the key of a source with no query id
 *		sqlfuncs.c	SQL-callable functions behind the views
 *		suggest.c	suggest_limits(), suggested_settings(), suggested_changes()
 *		suggestmerge.c	suggested limits merged into rule settings in place,
 *					and the check of what that changes (plain C)
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
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_H
#define LEAKGUARD_H

#include "compat.h"

#include "datatype/timestamp.h"
#include "libpq/hba.h"
#include "port/pg_crc32c.h"
#include "portability/instr_time.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "histogram.h"
#include "rules.h"

#define LG_NAME					"leakguard"

/* Stored length of a rule's text (longer rules are cut, with "..."). */
#define LG_RULE_TEXT_LEN		128
/* Stored length of a terminated session's last statement. */
#define LG_QUERY_TEXT_LEN		1024
/* Stored length of the last configuration error. */
#define LG_CONFIG_ERROR_LEN		1024
/* Stored length of the rules the worker uses, as status() shows them. */
#define LG_RULES_TEXT_LEN		(128 * 1024)
/* Room for the values of the policy in force, published in shared memory. */
#define LG_POLICY_LEN			(256 * 1024)
/*
 * The longest interval between two scans while a rule is qualified by role
 * or database: renamed and dropped roles and databases are seen this soon
 * (names.c).
 */
#define LG_NAMES_REFRESH_MS		1000
/* The shortest interval between two scans, whatever the limits. */
#define LG_MIN_SCAN_INTERVAL_MS	10
/* The longest a reader lets a waiting worker go first (lg_lock_reader). */
#define LG_READER_YIELD_US		1000
/* Seconds the postmaster waits before restarting a failed worker. */
#define LG_RESTART_SECONDS		1
/* application_name of the row that collects applications beyond the cap. */
#define LG_OVERFLOW_NAME		"(other applications)"

/*
 * Victims re-checked and signalled per acquisition of ProcArrayLock (see
 * terminate.c); 0 means the whole batch under one acquisition.  The figure
 * comes from test/bench/procarray.sh, which builds copies with others.
 */
#ifndef LG_TERMINATE_GROUP
#define LG_TERMINATE_GROUP		16
#endif

/* Idle-time histogram buckets. */
#define LG_NUM_BUCKETS			5

/* Version of the shared-memory layout (the statistics file has its own). */
#define LG_FORMAT_VERSION		5

/*
 * The durations kept in a histogram per application: idle-in-transaction
 * periods, idle periods (no transaction open), whole transactions,
 * statements (episodes.c).
 */
typedef enum LeakguardObserved
{
	LG_OBSERVED_XACT_IDLE,
	LG_OBSERVED_IDLE,
	LG_OBSERVED_TRANSACTION,
	LG_OBSERVED_STATEMENT
} LeakguardObserved;

#define LG_NUM_OBSERVED			4

/* Days of peak connections kept per application (today and the six before). */
#define LG_PEAK_DAYS			7

/*
 * The kinds of limit, each a row of lg_kinds[] (kinds.c), in the order of
 * that table.  The values are stored in the history and the statistics
 * file names the kinds by their SQL names, so a value's meaning may not
 * change: append only.
 */
typedef enum LeakguardKind
{
	LG_KIND_IDLE_IN_XACT,		/* idle in transaction (or aborted) */
	LG_KIND_IDLE,				/* idle, no transaction open */
	LG_KIND_CONNECTIONS,		/* a connection beyond its quota */
	LG_KIND_TRANSACTION,		/* a transaction open too long */
	LG_KIND_XMIN,				/* idle in transaction, holding back the
								 * xmin horizon too far */
	LG_KIND_BLOCKING,			/* idle in transaction, keeping another
								 * session waiting for its locks */
	LG_KIND_PREPARED,			/* a prepared transaction left too long
								 * (a warning; prepared.c) */
	LG_KIND_STATEMENT			/* a statement running too long */
} LeakguardKind;

#define LG_KIND_LAST			LG_KIND_STATEMENT
#define LG_NUM_KINDS			(LG_KIND_LAST + 1)

/* Blocked pids a termination for blocking records. */
#define LG_BLOCKED_PIDS			8

typedef enum LeakguardMode
{
	LG_MODE_ENFORCE,
	LG_MODE_DRY_RUN,
	LG_MODE_OFF
} LeakguardMode;

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

/* Why a session will never be terminated. */
typedef enum LeakguardExempt
{
	LG_EXEMPT_NONE,
	LG_EXEMPT_NO_LIMIT,			/* no rule matched and the default is 0 */
	LG_EXEMPT_RULE,				/* the matching rule says 0 */
	LG_EXEMPT_ROLE,				/* leakguard.exempt_roles */
	LG_EXEMPT_SUPERUSER			/* superuser, terminate_superusers off */
} LeakguardExempt;

/* The kinds of Citus internal connection (citus.c). */
typedef enum LeakguardCitusKind
{
	LG_CITUS_NONE,				/* not one, or Citus is not loaded */
	LG_CITUS_INTERNAL,			/* "citus_internal gpid=N" */
	LG_CITUS_REBALANCER,		/* "citus_rebalancer gpid=N" */
	LG_CITUS_RUN_COMMAND		/* "citus_run_command gpid=N" */
} LeakguardCitusKind;

#define LG_CITUS_LAST			LG_CITUS_RUN_COMMAND

/*
 * Who a session is, as the rules see it: its application_name (as the
 * server stores it), and the names of its login role and database, NULL
 * where not known (a rule qualified by role or database then never
 * applies); and whether it is a Citus internal connection, to which only
 * the rules that name it apply, not the defaults nor a rule of '*' alone
 * (lg_citus_kind(appname) != LG_CITUS_NONE, computed once per name).
 */
typedef struct LeakguardWho
{
	const char *appname;
	const char *usename;
	const char *datname;
	bool		citus_internal;
} LeakguardWho;

/*
 * One kind of limit, a row of lg_kinds[] (kinds.c), indexed by
 * LeakguardKind.  Settings, the worker's scan and re-check, the signal,
 * the client's message, the log line, statistics, history, the views,
 * limit_for() and the suggestions all read the row.
 */

/* What leakguard does to a session past a limit of the kind. */
typedef enum LeakguardKindAction
{
	LG_ACT_TERMINATE,			/* ends the session (SIGTERM) */
	LG_ACT_CANCEL,				/* cancels its statement (SIGINT) */
	LG_ACT_REFUSE,				/* refuses the connection at login */
	LG_ACT_WARN					/* logs a WARNING */
} LeakguardKindAction;

/* What the limit is counted in, and how the worker finds it passed. */
typedef enum LeakguardMeasure
{
	LG_MEASURE_TIME,			/* ms from the period's start: a deadline */
	LG_MEASURE_XID_AGE,			/* transactions: the age of the session's
								 * xmin or xid, read at every scan while the
								 * period lasts */
	LG_MEASURE_BLOCKED,			/* ms: how long another session has waited
								 * for its locks, since the later of its
								 * wait's start (for a row, its first wait
								 * for it) and the period's start, read at
								 * every scan (blocking.c) */
	LG_MEASURE_CONNECTIONS		/* connections held (quota.c) */
} LeakguardMeasure;

/* Where the period of a session limit begins, read from its status. */
typedef enum LeakguardPeriodStart
{
	LG_START_STATE_CHANGE,		/* its state's start: one idle period */
	LG_START_XACT,				/* xact_start: one transaction */
	LG_START_QUERY				/* query_start: one statement */
} LeakguardPeriodStart;

typedef struct LeakguardKindDef
{
	const char *name;			/* SQL name: terminations.kind, ... */
	LeakguardKindAction action;
	LeakguardMeasure measure;
	const char *since;			/* what the limit counts from, for the
								 * kinds view (may differ from the period
								 * start: blocking counts from waitstart) */
	bool		session;		/* a limit the worker enforces on sessions
								 * (false: enforced at login, or a warning) */
	/* which sessions: those in a state it accepts ... */
	bool		(*applies) (BackendState state, TimestampTz xact_start);
	/* ... in one period, which begins at */
	LeakguardPeriodStart period_start;
	bool		in_transaction; /* the same transaction must still be open */
	bool		in_block;		/* its periods happen only in a transaction
								 * block (BEGIN), which a session entering
								 * tells the worker of (lg_block_begun()) */
	const char *during;			/* "idle in transaction", for messages */
	/*
	 * Its settings (settings.c defines them from these): the default limit
	 * (an integer of default_unit, 0: none, at most default_max) and the
	 * rules per application; NULL: it has no such setting.  The values in
	 * force are lg_kind_limit[], lg_kind_rules_text[] and lg_kind_rules[].
	 */
	const char *default_guc;
	const char *default_desc;
	const char *default_long;
	int			default_max;
	int			default_unit;	/* GUC_UNIT_MS, or 0 */
	const char *rules_guc;
	const char *rules_desc;
	const char *rules_long;
	LeakguardRuleKind rule_kind;
	/* the histogram of its periods' durations (LeakguardObserved), or -1 */
	int			observed;
	int			suggest_floor_ms;	/* the shortest limit suggested */
	/* what the client is told */
	int			sqlerrcode;
	const char *message;
} LeakguardKindDef;

extern const LeakguardKindDef lg_kinds[LG_NUM_KINDS];

/* A session waiting for a lock that another holds (blocking.c). */
typedef struct LeakguardBlock
{
	int			waiter_pid;
	int			blocker_pid;
	TimestampTz wait_start;		/* since when the waiter waits (blocking.c) */
	bool		row;			/* for a row: more of its lockers may follow */
} LeakguardBlock;

/* What a quota rule counts by, besides the application name. */
#define LG_QUOTA_BY_USER		1
#define LG_QUOTA_BY_DATABASE	2

/* The limit that applies to a session. */
typedef struct LeakguardLimit
{
	int			rule_index;		/* -1: no rule matched, the default applies */
	int			qualifiers;		/* LG_QUOTA_BY_* the matching rule names */
	int64		timeout_ms;		/* 0: no limit; connections for quotas */
	char		rule[LG_RULE_TEXT_LEN]; /* the rule's text, "" for default */
} LeakguardLimit;

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
	int64		idle_us;		/* how long its period had lasted */
	int64		timeout_ms;		/* the limit: ms, or transactions for a
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
	int64		idle_us;		/* how long its period had lasted */
	int64		timeout_ms;
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

/*
 * A key of the shared quota counts (quotacount.c): the quota rule that
 * admitted a connection (its index in the rule set whose identity is
 * LeakguardShared->quota_rules_id), the application name, and the role and
 * database names when that rule names them.  Compared and hashed as bytes:
 * unused bytes are zero.
 */
typedef struct LeakguardQuotaKey
{
	int			rule;			/* index of the admitting rule */
	int			parts;			/* LG_QUOTA_BY_* */
	char		appname[NAMEDATALEN];
	char		usename[NAMEDATALEN];	/* "" unless LG_QUOTA_BY_USER */
	char		datname[NAMEDATALEN];	/* "" unless LG_QUOTA_BY_DATABASE */
} LeakguardQuotaKey;

/*
 * Who holds a connection of which application, per backend slot: charged
 * at authentication under the application_name of the startup packet and
 * the login role's and database's names, charged again under a new
 * application_name when the session changes it, released at exit; and the
 * key it is counted under, if a quota rule admitted it.  Protected by
 * LeakguardShared->quota_lock.
 */
typedef struct LeakguardQuotaSlot
{
	bool		charged;
	bool		counted;		/* counted under key */
	char		appname[NAMEDATALEN];
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	LeakguardQuotaKey key;
} LeakguardQuotaSlot;

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
	 * (lg_block_begun(); worker.c).
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
								 * (worker.c); 0: none yet */

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

/* One consistent read of a backend status slot (scan.c). */
typedef struct LeakguardBackend
{
	int			pid;			/* 0: slot unused */
	BackendType type;
	BackendState state;
	TimestampTz proc_start;
	TimestampTz xact_start;
	TimestampTz activity_start;	/* start of the last statement */
	TimestampTz state_start;
	Oid			datid;
	Oid			userid;
	char		appname[NAMEDATALEN];	/* client backends only */
	int64		query_id;		/* of the last statement, 0: none computed;
								 * full reads only (lg_status_read_full) */
	int			changecount;	/* st_changecount the read was made at */
} LeakguardBackend;

/*
 * A session past its deadline and what became of it.  The worker fills the
 * event's identity fields (pid, backend_start, xact_start, state_change,
 * datid, userid, appname, timeout_ms, rule) from what the scan saw;
 * lg_terminate_batch() re-checks against them and fills in the rest.
 */
typedef struct LeakguardTermination
{
	int			slot;
	bool		superuser;		/* report only */
	bool		repeat;			/* same outcome as already recorded */
	int64		idle_origin_us; /* when the period of event.kind began, on
								 * the monotonic clock (lg_monotonic_us) */
	int64		query_id;		/* of its last statement (0: none), read
								 * with event.query (sources.c) */
	LeakguardEvent event;
} LeakguardTermination;

/*
 * Microseconds on a clock that no change of the system time moves
 * (CLOCK_MONOTONIC where there is one, as for EXPLAIN ANALYZE); its origin
 * is arbitrary, so only differences mean anything.  Deadlines are kept on
 * it: a step of the wall clock must not end a session early.
 */
static inline int64
lg_monotonic_us(void)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	return (int64) INSTR_TIME_GET_MICROSEC(now);
}

/* shmem.c */
extern LeakguardShared *lg_shared;
extern bool lg_worker_unregistered;
extern struct HTAB *lg_app_hash;
extern void lg_shmem_request(void);
extern void lg_shmem_startup(void);
extern void lg_require_shmem(void);
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
extern void lg_lock_worker(void);
extern void lg_lock_reader(void);

/* episodes.c */
extern void lg_install_episode_hooks(void);
extern void lg_episodes_fold_all(TimestampTz now);
extern void lg_block_begun(void);

/* persist.c */
extern void lg_stats_load(void);
extern void lg_stats_save(int code, Datum arg);
extern bool lg_shutdown_was_clean(void);
extern char *lg_read_whole_file(const char *path, const char *what,
								Size minsize, Size *len);
extern bool lg_file_write(FILE *file, const void *data, Size len,
						  pg_crc32c *crc);
extern void lg_file_finish(FILE *file, const char *tmpfile, const char *path,
						   pg_crc32c crc, bool ok);

/* settings.c */
extern int	lg_mode;
extern int	lg_kind_limit[LG_NUM_KINDS];
extern char *lg_kind_rules_text[LG_NUM_KINDS];
extern const LeakguardRuleSet *lg_kind_rules[LG_NUM_KINDS];
extern int	lg_naptime_ms;
extern char *lg_exempt_roles;
extern bool lg_terminate_superusers;
extern int	lg_connection_warning;
extern int	lg_max_applications;
extern int	lg_history_size;
extern bool lg_save_stats;
extern char lg_start_errors[LG_CONFIG_ERROR_LEN];
extern TimestampTz lg_start_load_time;
extern void lg_define_settings(void);
extern bool lg_role_name_exempt(const char *rolname);
extern const char *lg_mode_name(int mode);
extern char **lg_settings_save(void);
extern bool lg_config_start(bool *taken_up);
extern bool lg_config_judge(char **saved);
extern void lg_policy_init(void);
extern void lg_policy_refresh(void);
extern int	lg_backend_mode(void);
extern int	lg_backend_mode_applied(void);
extern char *lg_policy_text(void);

/* limits.c */
extern bool lg_rules_qualified(void);
extern void lg_kind_limit_for(int kind, const LeakguardWho *who,
							  LeakguardLimit *limit);
extern void lg_connection_limit_for(const LeakguardWho *who, LeakguardLimit *limit);
extern uint64 lg_quota_rules_id(void);

/* citus.c */
extern bool lg_citus_loaded;
extern void lg_citus_detect(void);
extern LeakguardCitusKind lg_citus_kind(const char *appname);
extern const char *lg_citus_stats_name(const char *appname, char *buf);
extern bool lg_citus_stats_row(const char *name);

/* names.c */
extern void lg_names_init(void);
extern const char *lg_role_name(Oid roleid, char *dst);
extern const char *lg_database_name(Oid dbid, char *dst);
extern void lg_names_refresh(int64 now_us);
extern uint64 lg_names_generation;
extern const char *lg_kind_name(int kind);
extern const char *lg_kind_source(int kind, const char *rule);
extern const char *lg_kind_action_name(int kind);
extern const char *lg_kind_measure_name(int kind);
extern int	lg_kind_by_name(const char *name);
extern TimestampTz lg_kind_period_since(int kind, TimestampTz state_change,
										TimestampTz xact_start,
										TimestampTz query_start);
extern int64 lg_shortest_limit_ms(bool in_block);
extern int64 lg_kind_shortest_ms(int kind);
extern LeakguardExempt lg_role_exemption(Oid roleid);
extern const char *lg_exempt_name(LeakguardExempt exempt);
extern const char *lg_action_name(int action);
extern char *lg_format_duration_ms(int64 ms);
extern void lg_copy_rule_text(char *dst, const char *src);
extern void lg_copy_cut(char *dst, const char *src, size_t size);

/* scan.c */
extern bool lg_status_attach(void);
extern bool lg_status_read(int slot, LeakguardBackend *b);
extern int	lg_status_changed(const int *slots, int n, const int *counts,
							  int *changed);
extern Size lg_client_slots_size(void);
extern void lg_client_slots_init(void);
extern void lg_install_client_slots_hook(void);
extern int	lg_client_slots(const uint32 *following, int *slots);
extern bool lg_status_read_full(int slot, LeakguardBackend *b,
								SockAddr *client_addr, char *query);
extern bool lg_state_idle_in_xact(BackendState state);
extern void lg_xid_horizon_read(void);
extern int64 lg_backend_xid_age(int slot, int pid, bool locked);
extern bool lg_backend_holds_horizon(int slot, int pid);

/* terminate.c */
extern void lg_terminate_batch(LeakguardTermination *items, int n, int mode,
							   double *lock_wait_ms);
extern int	lg_signal_due(int ncand, LeakguardTermination *batch,
						  double *exempt_ms, double *lock_wait_ms);
extern bool lg_victim_take(LeakguardVictim *out, LeakguardKindAction action);

/* blocking.c */
extern int	lg_blocks_find(TimestampTz now, int64 min_wait_us, bool remember,
						   LeakguardBlock **out, TimestampTz *next_check);

/* prepared.c */
extern int64 lg_prepared_check(void);
extern PGDLLEXPORT void lg_prepared_main(Datum arg);

/* leakguard.c */
extern void lg_register_worker(void);

/* worker.c */
extern PGDLLEXPORT void lg_worker_main(Datum arg);

/* sqlfuncs.c */
extern Datum lg_interval_us(int64 us);
extern void lg_check_result_columns(struct TupleDescData *desc, int w10,
									 int w11, int w12, int w13);
extern long lg_stats_copy(LeakguardAppStats *entries,
						  LeakguardAppStats *overflow,
						  TimestampTz *stats_reset);

/* report.c */
extern void lg_install_log_hook(void);

/* quotacount.c */
extern Size lg_quota_count_size(void);
extern void lg_quota_count_init(void);
extern void lg_quota_key(LeakguardQuotaKey *key, const LeakguardLimit *quota,
						 const char *appname, const char *usename,
						 const char *datname);
extern int	lg_quota_held(const LeakguardQuotaKey *key);
extern bool lg_quota_charge(int slot, const char *appname, const char *usename,
							const char *datname, const LeakguardLimit *quota);
extern void lg_quota_uncharge(int slot);
extern void lg_quota_uncount_all(void);
extern bool lg_quota_count_slot(int slot, const LeakguardLimit *quota);

/* quota.c */
extern void lg_install_quota_hook(void);

#endif							/* LEAKGUARD_H */
