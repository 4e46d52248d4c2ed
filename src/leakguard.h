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
 *		limits.c	what applies to one session: rule, timeout, exemption
 *		shmem.c		shared state: worker status, statistics, history
 *		persist.c	statistics file written at clean shutdown, read at start
 *		scan.c		reading the backend status array (the worker's hot path)
 *		worker.c	the background worker: latch loop, scans, scheduling
 *		terminate.c	re-check under ProcArrayLock, signal, victim marks
 *		report.c	emit_log_hook rewriting the victim's FATAL message
 *		quota.c		connection quotas: counted at authentication
 *		sqlfuncs.c	SQL-callable functions behind the views
 *
 * Locking, in one place:
 *
 *	- LeakguardShared->lock (one LWLock, tranche "leakguard") protects every
 *	  field of LeakguardShared and the statistics hash table and history ring
 *	  unless a field's comment says otherwise.  The worker takes it exclusive
 *	  once per scan to publish what it found; readers take it shared to copy.
 *	  No other lock is ever acquired while holding it, and no ereport above
 *	  DEBUG happens under it.  LWLocks let new shared holders in while an
 *	  exclusive waiter queues, so readers that loop (a long history read
 *	  in chunks, a monitoring scrape) could keep the worker waiting:
 *	  readers therefore take it through lg_lock_reader(), which first lets
 *	  a waiting worker in (worker_waiting, set by lg_lock_worker()).
 *	- LeakguardMark slots belong to the worker (one process at a time):
 *	  no lock.
 *	- Each LeakguardVictim has its own spinlock.  The worker fills a victim
 *	  slot just before it signals that backend; the backend reads its own slot
 *	  from emit_log_hook while it reports its FATAL error, where taking an
 *	  LWLock would be unsafe.
 *	- LeakguardShared->quota_lock (second lock of the tranche) protects the
 *	  LeakguardQuotaSlot array: who holds a connection of which application.
 *	  Backends take it exclusive at authentication and at exit, never with
 *	  another lock held, and never while reporting an error.
 *	- The client-slot bitmap (scan.c) is made of atomic words: a backend
 *	  sets and clears only its own bit, the worker only reads; no lock.
 *	- ProcArrayLock (shared) is held by the worker around the final re-check
 *	  and kill() of a victim, so the victim cannot leave the proc array (and
 *	  its pid cannot be reused) between the check and the signal.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_H
#define LEAKGUARD_H

#include "compat.h"

#include "datatype/timestamp.h"
#include "libpq/hba.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

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
/* The shortest interval between two scans, whatever the limits. */
#define LG_MIN_SCAN_INTERVAL_MS	10
/* Seconds the postmaster waits before restarting a failed worker. */
#define LG_RESTART_SECONDS		1
/* application_name of the row that collects applications beyond the cap. */
#define LG_OVERFLOW_NAME		"(other applications)"

/* Idle-time histogram buckets. */
#define LG_NUM_BUCKETS			5

/* Version of the shared-memory layout and of the statistics file. */
#define LG_FORMAT_VERSION		2

/* What a limit is about, and what a history row records. */
typedef enum LeakguardKind
{
	LG_KIND_XACT,				/* idle in transaction (or aborted) */
	LG_KIND_IDLE,				/* idle, no transaction open */
	LG_KIND_QUOTA				/* a connection beyond its quota */
} LeakguardKind;

#define LG_KIND_LAST			LG_KIND_QUOTA

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
	LG_ACTION_REFUSED			/* a connection refused by its quota */
} LeakguardAction;

#define LG_ACTION_LAST			LG_ACTION_REFUSED

/* Why a session will never be terminated. */
typedef enum LeakguardExempt
{
	LG_EXEMPT_NONE,
	LG_EXEMPT_NO_LIMIT,			/* no rule matched and the default is 0 */
	LG_EXEMPT_RULE,				/* the matching rule says 0 */
	LG_EXEMPT_ROLE,				/* leakguard.exempt_roles */
	LG_EXEMPT_SUPERUSER			/* superuser, terminate_superusers off */
} LeakguardExempt;

/* The limit that applies to an application_name. */
typedef struct LeakguardLimit
{
	int			rule_index;		/* -1: no rule matched, the default applies */
	int64		timeout_ms;		/* 0: no limit; connections for quotas */
	char		rule[LG_RULE_TEXT_LEN]; /* the rule's text, "" for default */
} LeakguardLimit;

/*
 * Accumulated statistics of one application; the entries of the statistics
 * hash table (key: name) and the overflow entry.  Written by the worker and
 * by reset(), under LeakguardShared->lock exclusive.
 */
typedef struct LeakguardAppStats
{
	char		name[NAMEDATALEN];	/* hash key; must be first */
	int64		peak_connections;
	int64		episodes;
	int64		terminated;
	int64		dry_run;
	int64		idle_terminated;	/* idle sessions */
	int64		idle_dry_run;
	int64		refused;		/* connections refused by a quota */
	int64		refused_dry_run;
	int64		total_idle_us;
	int64		max_idle_us;
	int64		buckets[LG_NUM_BUCKETS];
	TimestampTz last_terminated_at; /* 0 = never */
	TimestampTz first_seen;
	uint64		scan_no;		/* the worker's count scan_connections is of */
	int32		scan_connections;	/* connections seen, as of the last scan */
} LeakguardAppStats;

/* One row of leakguard.terminations, in the history ring. */
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
	int64		idle_us;
	int64		timeout_ms;
	SockAddr	client_addr;
	char		appname[NAMEDATALEN];
	char		rule[LG_RULE_TEXT_LEN];
	char		query[LG_QUERY_TEXT_LEN];
} LeakguardEvent;

/*
 * What the worker recorded for the idle period of the backend in one slot:
 * the last outcome it counted (terminated, dry_run, ...), so that a
 * restarted worker neither signals nor counts the same period twice.
 * Owned by the worker: only the one worker process reads or writes these,
 * and a restarted worker inherits them; no lock.
 */
typedef struct LeakguardMark
{
	int			pid;			/* 0: nothing recorded */
	TimestampTz backend_start;
	TimestampTz state_change;	/* the idle period */
	int			action;			/* LeakguardAction recorded */
} LeakguardMark;

/*
 * Set by the worker just before it signals a backend, read by that backend
 * when it reports its FATAL error.  Protected by its own mutex.
 */
typedef struct LeakguardVictim
{
	slock_t		mutex;
	int			pid;			/* 0: no mark */
	int			kind;			/* LG_KIND_XACT or LG_KIND_IDLE */
	TimestampTz backend_start;	/* with pid, identifies the backend */
	TimestampTz state_change;	/* the idle period it was signalled for */
	int64		idle_us;
	int64		timeout_ms;
	char		appname[NAMEDATALEN];
	char		rule[LG_RULE_TEXT_LEN];
} LeakguardVictim;

/*
 * Who holds a connection of which application, per backend slot: charged
 * at authentication under the application_name of the startup packet,
 * released at exit.  Protected by LeakguardShared->quota_lock.
 */
typedef struct LeakguardQuotaSlot
{
	bool		charged;
	char		appname[NAMEDATALEN];
} LeakguardQuotaSlot;

typedef struct LeakguardShared
{
	uint32		format;			/* LG_FORMAT_VERSION; constant */
	LWLock	   *lock;			/* constant after start */
	LWLock	   *quota_lock;		/* constant after start */
	pg_atomic_uint32 worker_waiting;	/* the worker waits for lock (no lock) */
	bool		worker_registered;	/* constant after start */
	bool		worker_disabled;	/* the worker cannot run; set once */
	char		worker_error[LG_CONFIG_ERROR_LEN];	/* why, if disabled */

	/* the worker */
	int			worker_pid;		/* 0: no worker runs */
	Latch	   *worker_latch;
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
	bool		config_checked; /* the worker checked the files once */
	bool		config_unsafe;	/* bad settings since start: report only */
	char		rules[LG_RULES_TEXT_LEN];	/* the worker's rules */

	/* check(): requests and their completion */
	uint64		check_requested;
	uint64		check_completed;
	int64		check_result;
	ConditionVariable check_cv; /* has its own locking */

	/* statistics */
	TimestampTz stats_reset;
	uint64		reset_generation;	/* bumped by reset() */
	LeakguardAppStats overflow;
	uint64		history_count;	/* events ever written; next slot is
								 * history_count % history_size */

	/* arrays that follow in the same allocation */
	LeakguardVictim *victims;	/* [MaxBackends], constant pointer */
	LeakguardMark *marks;		/* [MaxBackends], constant pointer */
	LeakguardQuotaSlot *quota;	/* [MaxBackends], constant pointer */
	LeakguardEvent *history;	/* [history_size], constant pointer */
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
	LeakguardEvent event;
} LeakguardTermination;

/* shmem.c */
extern LeakguardShared *lg_shared;
extern struct HTAB *lg_app_hash;
extern void lg_shmem_request(void);
extern void lg_shmem_startup(void);
extern void lg_require_shmem(void);
extern LeakguardAppStats *lg_stats_entry(const char *appname, TimestampTz now);
extern void lg_stats_add_episode(LeakguardAppStats *entry, int64 idle_us);
extern void lg_history_add(const LeakguardEvent *event);
extern void lg_stats_reset(TimestampTz now);
extern void lg_lock_worker(void);
extern void lg_lock_reader(void);

/* persist.c */
extern void lg_stats_load(void);
extern void lg_stats_save(int code, Datum arg);

/* settings.c */
extern int	lg_mode;
extern int	lg_default_timeout_ms;
extern char *lg_application_timeouts;
extern int	lg_idle_timeout_ms;
extern char *lg_application_idle_timeouts;
extern char *lg_application_connection_limits;
extern int	lg_naptime_ms;
extern char *lg_exempt_roles;
extern bool lg_terminate_superusers;
extern int	lg_connection_warning;
extern int	lg_max_applications;
extern int	lg_history_size;
extern bool lg_save_stats;
extern const LeakguardRuleSet *lg_rules;
extern const LeakguardRuleSet *lg_idle_rules;
extern const LeakguardRuleSet *lg_connection_rules;
extern char lg_start_errors[LG_CONFIG_ERROR_LEN];
extern void lg_define_settings(void);
extern bool lg_role_name_exempt(const char *rolname);
extern const char *lg_mode_name(int mode);
extern char **lg_settings_save(void);
extern bool lg_config_check(char **saved);

/* limits.c */
extern void lg_limit_for(const char *appname, LeakguardLimit *limit);
extern void lg_idle_limit_for(const char *appname, LeakguardLimit *limit);
extern void lg_connection_limit_for(const char *appname, LeakguardLimit *limit);
extern const char *lg_kind_name(int kind);
extern int64 lg_shortest_limit_ms(void);
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

/* terminate.c */
extern void lg_terminate_batch(LeakguardTermination *items, int n, int mode,
							   double *lock_wait_ms);
extern bool lg_victim_take(LeakguardVictim *out);

/* worker.c */
extern bool lg_worker_unregistered;
extern void lg_register_worker(void);
extern PGDLLEXPORT void lg_worker_main(Datum arg);

/* report.c */
extern void lg_install_log_hook(void);

/* quota.c */
extern void lg_install_quota_hook(void);
extern int	lg_backend_mode(void);

#endif							/* LEAKGUARD_H */
