/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The leakguard background worker: scan, decide, sleep until the next
 *		deadline.
 *
 * The worker starts at consistent state (so it also runs on hot standbys),
 * connects to no database (it reads only the shared catalogs, and only for
 * sessions that reached their deadline), and loops:
 *
 *	1. reload the configuration if SIGHUP arrived; follow the prepared
 *	   transactions if leakguard.prepared_transaction_warning is set
 *	   (prepared.c: a few loads, and a helper started when one may be due);
 *	2. scan: check the status slot of every client backend (scan.c), read
 *	   again only those written since the last scan, keep per-slot state in
 *	   local memory to follow each period of each kind of limit on sessions
 *	   (lg_kinds[]: idle in transaction, idle outside one, in one
 *	   transaction), compute each session's deadline, the earliest start of
 *	   a period + the limit of its kind, and collect the sessions whose
 *	   deadline has passed; then those past a limit that is no deadline,
 *	   read at every scan for the sessions it concerns only: the xmin age
 *	   of sessions idle in transaction with an xmin limit (their slots do
 *	   not change while others consume transaction IDs), and the lock
 *	   waits that the blocking limit judges (blocking.c);
 *	3. signal those first (terminate.c): decide exemptions, then re-check
 *	   and signal them, taking ProcArrayLock for a few at a time, inside one
 *	   transaction for the catalog look-ups, with no leakguard lock taken
 *	   and nothing logged in between;
 *	4. only then publish counters, statistics, history and leak sources
 *	   (sources.c) under LeakguardShared->lock, once, with the episodes the
 *	   sessions recorded themselves (episodes.c), and write the log lines;
 *	5. say when it wakes next and answer the check() requests made before
 *	   the scan (under the same acquisition of the lock when the scan had
 *	   no log line to write, else once more after them; check_cv is
 *	   broadcast only when a request was answered);
 *	6. sleep on the latch until the nearest deadline, or the scan interval,
 *	   whichever comes first.
 *
 * So a wake with nothing due takes LeakguardShared->lock once.
 *
 * The scan interval is naptime, but never more than half the shortest
 * limit in force (every rule and default, of every kind), nor less than
 * LG_MIN_SCAN_INTERVAL_MS.  So every period is seen by a scan before
 * its deadline, whatever its limit, and the worker then wakes at exactly
 * that deadline: a session is handled within the scheduling latency of its
 * deadline.  naptime bounds only how fast a session is noticed when no
 * short limit is configured.  A deadline is never acted on before it has
 * passed.
 *
 * At rest the worker need not scan that often.  The kinds whose periods
 * happen only in a transaction block (idle in transaction, and the xmin
 * and blocking limits on it: lg_kinds[].in_block) need a short interval
 * only while some session may be in one, and a session enters one only by
 * BEGIN (or START TRANSACTION, or COMMIT AND CHAIN), a utility statement.
 * So when a scan finds no session in any state but idle, the worker sleeps
 * the interval of the other kinds (the relaxed interval, naptime when they
 * have no short limit) and asks to be told: it sets
 * LeakguardShared->block_watch before it reads the status slots, and the
 * first session to begin a block afterwards swaps it back to 0 and sets the
 * worker's latch (lg_block_begun(), from the utility hook, after a full
 * barrier: the session's status said "active" before its BEGIN ran, so
 * either the scan saw it so, or the session sees block_watch set).  The
 * worker then scans within the short interval of its previous scan, as it
 * would have had it never slept longer: so the scan rate is never higher
 * than without this, and periods are seen as early.
 *
 * Deadlines are kept on the monotonic clock (lg_monotonic_us), not on the
 * system clock, which an NTP correction or a resumed virtual machine can
 * step forward by hours: a session is never terminated before it has been
 * idle for its limit as that clock measures it, from the moment a scan
 * first saw the idle period, plus the idle time it had then.  That idle
 * time is state_change's age by the system clock, but never more than the
 * time since the previous scan, which saw the slot without this period;
 * only the first scan of a worker has no such bound.  The idle times the
 * worker records (log, history, statistics, the victim's message) are
 * measured the same way.  A build with LG_FAULT_CLOCK_OFFSET_FILE defined
 * offsets the worker's system clock by what that file holds, for the tests
 * (lg_clock_now).
 *
 * All memory the scan needs is allocated once at start: no allocation per
 * scan, no SQL, no catalog access unless a deadline has passed, or, while
 * a rule is qualified by role or database, to look up the name of a role
 * or database the worker has not seen yet (names.c).  A session
 * whose slot did not change costs one load and a comparison: its deadline,
 * rule and statistics entry are kept from when it last changed.
 *
 * A transaction's age is measured like an idle period, from xact_start:
 * the slot of a session running statements changes at every one, and is
 * read again, but its transaction period goes on while xact_start stays.
 *
 * What it recorded for each period (terminated, dry_run, ...) is kept
 * in shared memory (LeakguardMark), so a restarted worker neither signals
 * nor counts the same period twice.  So is the policy in force: a
 * restarted worker enforces the values its predecessor enforced, not the
 * postmaster's, which a reload with a bad value leaves half-applied
 * (settings.c).  While no valid settings are loaded, the worker only
 * reports, as in dry_run.
 *
 * SIGTERM from the postmaster means server shutdown: the loop ends and the
 * worker exits with code 0, quietly, as autoprewarm does.  SIGTERM from
 * anyone else (pg_terminate_backend(), kill) ends it with code 1, so that
 * the postmaster starts it again after LG_RESTART_SECONDS.
 *
 * Rules qualified by role or database need the session's role and database
 * names: the worker keeps them per OID (names.c), looked up once, and only
 * while some rule is qualified.
 *
 * Shared state: LeakguardShared (worker fields, statistics, history, check
 * requests) under LeakguardShared->lock; LeakguardMark slots, the worker's
 * own; see leakguard.h.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"
#include "sources.h"

#include <signal.h>
#ifdef LG_FAULT_RELOAD_PAUSE
#include <sys/stat.h>
#endif

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "lib/stringinfo.h"
#include "pgstat.h"
#include "port/pg_bitutils.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/*
 * One period of one kind of limit (lg_kinds[]) in a slot: idle in
 * transaction, idle, in a transaction.  A backend can be in several at
 * once (idle in transaction is also in a transaction).
 */
typedef struct LgPeriod
{
	bool		active;			/* the backend is in such a period */
	TimestampTz since;			/* its start: state_change or xact_start */
	int64		origin_us;		/* its start on the monotonic clock, as
								 * estimated when first seen */
	bool		reported;		/* handled otherwise until the next reload */
	int			last_action;	/* LeakguardAction recorded, or -1 */
} LgPeriod;

/* What the worker remembers of one backend slot between scans. */
typedef struct LgSlot
{
	int			pid;			/* 0: no client backend seen here */
	TimestampTz proc_start;
	Oid			datid;
	Oid			userid;
	char		appname[NAMEDATALEN];
	bool		citus_internal; /* appname is a Citus internal connection's */

	/*
	 * statistics entry the slot is counted in (connections); NULL: not yet,
	 * the next publish counts it
	 */
	LeakguardAppStats *entry;

	/*
	 * limits of each kind on sessions for this session; valid if
	 * limit_generation == lg_config_generation
	 */
	LeakguardLimit limits[LG_NUM_KINDS];
	uint64		limit_generation;

	/* the periods it is in, by kind */
	LgPeriod	periods[LG_NUM_KINDS];
	TimestampTz xact_start;		/* of the transaction it was last seen in */
	bool		signalled;		/* terminated: never again */
	uint32		superuser_kinds;	/* bit k: a period of kind k was reported
									 * as a superuser's; later ones are not */
	bool		counted;		/* its idle-in-transaction episode was
								 * added to the statistics */
} LgSlot;

/* An episode that ended during a scan, counted when the scan publishes. */
typedef struct LgEndedEpisode
{
	char		appname[NAMEDATALEN];
	Oid			userid;
	int64		idle_us;
} LgEndedEpisode;

static LgSlot *lg_slots;

/*
 * What the last complete read of each status slot saw, kept apart from
 * LgSlot so that a scan over slots that did not change touches little
 * memory: its st_changecount (odd: read the slot again), and the deadline
 * of the earliest period it was in, on the monotonic clock (0: none).
 */
static int *lg_counts;
static int64 *lg_deadlines;
static LgEndedEpisode *lg_ended;
static int	lg_nended;

/* lg_config_generation lg_counts and lg_deadlines were computed under. */
static uint64 lg_seen_generation = 0;

/* Client backends in lg_slots (slots with pid != 0), and a bit for each. */
static int	lg_nclients = 0;
static uint32 *lg_following;

/* The slots a scan reads (lg_client_slots()), and those that changed. */
static int *lg_to_read;
static int *lg_changed;

/*
 * Connection counts are kept up to date at each publish from what changed
 * during the scan: the entries that slots left, and the slots to count in
 * an entry.  A full count starts them again from the slots (the first scan,
 * after a reload or a reset()); an entry's scan_connections belongs to the
 * full count stamped in its scan_no, and starts from zero otherwise.  The
 * stamp of the latest full count is published (count_scan): an entry with
 * connections counted under it is never removed to make room for another
 * (shmem.c), which keeps the pointers to entries held here valid.
 */
static LeakguardAppStats **lg_left;
static int	lg_nleft;
static int *lg_joined;
static int	lg_njoined;
static uint64 lg_count_scan = 0;	/* scan of the full count; 0: count again */
static uint64 lg_count_reset_generation;	/* reset_generation it was under */
static int *lg_candidates;
static int *lg_candidate_kinds; /* the kind it is due for; -1: by deadline */
static LeakguardTermination *lg_batch;

/*
 * The slots in a period of a kind measured in transactions, with a limit,
 * not handled yet: read at every scan, changed or not (lg_xid_age_due).
 */
static uint32 *lg_xid_watch;

/*
 * The blocking limit: the shortest in force (0: none, nothing is looked
 * at), the waits found by a scan, and per slot what its candidate blocks.
 */
typedef struct LgBlocked
{
	int			nblocked;
	int			pids[LG_BLOCKED_PIDS];
	int64		blocked_us;
	uint64		pass;			/* lg_blocking_pass it is a candidate for
								 * blocking in */
} LgBlocked;

static int64 lg_blocking_shortest_ms = 0;
static int64 lg_blocking_next_us = 0;	/* next look, monotonic clock */
static LgBlocked *lg_blocked;
static uint64 lg_blocking_pass = 0;

/* A client backend's pid and slot: the slots a scan reads, by pid. */
typedef struct LgPidSlot
{
	int			pid;
	int			slot;
} LgPidSlot;

static LgPidSlot *lg_pid_slots;

/* The last scan found a bit set in lg_busy (below): a session not idle. */
static bool lg_any_busy = true;

/* Set in the postmaster when max_worker_processes left no room. */
bool		lg_worker_unregistered = false;

/*
 * Bumped at every reload, and when a role or database name may have changed
 * (lg_names_generation): every cached limit is recomputed.
 */
static uint64 lg_config_generation = 1;
static uint64 lg_names_seen = 1;

/* Connection warning state: logged once per crossing. */
static bool lg_connection_warned = false;

/* Sessions acted on during the current scan (for check()). */
static int64 lg_scan_acted;

/*
 * The check() requests made before the current scan began, and whether the
 * scan's publishing already completed them and said when the worker wakes
 * next (lg_publish_wake).
 */
static uint64 lg_check_requested;
static bool lg_wake_published;
static bool lg_check_done;

/*
 * The monotonic time at which the previous scan began (0: none since the
 * slots were last cleared): a period a scan sees for the first time
 * began after it.
 */
static int64 lg_prev_scan_us = 0;

/*
 * The longest sleep between two scans, from naptime and the limits; and
 * the same when no session is in a transaction block, from the kinds whose
 * periods do not need one (greater than lg_scan_interval_ms only if the
 * kinds that do have a shorter limit).
 */
static int	lg_scan_interval_ms;
static int	lg_relaxed_interval_ms;

/*
 * The slots whose last read state was neither idle nor undefined (a
 * backend starting): running, idle in transaction (aborted or not), in a
 * fast-path call, or not reported (track_activities off, which its
 * superuser may turn on inside a block).  A session in a transaction block
 * is in one of these; one that is idle is not in one.
 */
static uint32 *lg_busy;

/*
 * The last scan found no bit in lg_busy and set block_watch: it sleeps the
 * relaxed interval, unless a session begins a transaction block.  When it
 * began on the monotonic clock.
 */
static bool lg_relaxed = false;
static int64 lg_scan_start_us = 0;

/* No valid settings are loaded: report only (settings.c). */
static bool lg_config_unsafe = false;

/*
 * This worker did not take up its predecessor's policy but judged the files
 * (a reload came while no worker ran): what the predecessor only reported
 * is examined again, as after a reload, and recorded again only if the
 * outcome differs.
 */
static bool lg_recheck_reported = false;

/* SIGTERM: set by the handler, with the sender's pid where known. */
static volatile sig_atomic_t lg_shutdown_requested = false;
static volatile sig_atomic_t lg_sigterm_sender = 0;

/* Registration: whether RegisterBackgroundWorker() complained. */
static bool lg_registration_failed = false;
static emit_log_hook_type lg_hook_before_registration = NULL;

/*
 * The system clock as the worker reads it.  In a fault-injection build
 * (tests only; never defined in a normal build) it is offset by the
 * milliseconds written in the file LG_FAULT_CLOCK_OFFSET_FILE of the data
 * directory, to step the worker's clock without touching the machine's.
 */
TimestampTz
lg_clock_now(void)
{
	TimestampTz now = GetCurrentTimestamp();

#ifdef LG_FAULT_CLOCK_OFFSET_FILE
	{
		FILE	   *f = fopen(LG_FAULT_CLOCK_OFFSET_FILE, "r");
		long long	offset_ms;

		if (f != NULL)
		{
			if (fscanf(f, "%lld", &offset_ms) == 1)
				now += (TimestampTz) offset_ms * 1000;
			fclose(f);
		}
	}
#endif
	return now;
}

/* The mode the worker acts in. */
static int
lg_effective_mode(void)
{
	if (lg_config_unsafe && lg_mode == LG_MODE_ENFORCE)
		return LG_MODE_DRY_RUN;
	return lg_mode;
}

#ifdef SA_SIGINFO
static void
lg_sigterm_handler(int signo, siginfo_t *info, void *context)
{
	int			save_errno = errno;

	lg_sigterm_sender = (info != NULL) ? (int) info->si_pid : 0;
	lg_shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}
#else
static void
lg_sigterm_handler(SIGNAL_ARGS)
{
	int			save_errno = errno;

	/* The sender is unknown here: take it for the postmaster. */
	lg_sigterm_sender = (int) PostmasterPid;
	lg_shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}
#endif

static void
lg_install_sigterm_handler(void)
{
#ifdef SA_SIGINFO
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_sigaction = lg_sigterm_handler;
	sigemptyset(&act.sa_mask);
	act.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(SIGTERM, &act, NULL) != 0)
		elog(ERROR, "could not set the leakguard worker's SIGTERM handler: %m");
#else
	pqsignal(SIGTERM, lg_sigterm_handler);
#endif
}

/*
 * RegisterBackgroundWorker() returns nothing: every way it can fail
 * (max_worker_processes exhausted among them) is reported by ereport(LOG)
 * and a return, while success logs at DEBUG1 at most.  So a message of
 * level LOG or above during the call means the worker was not registered.
 */
static void
lg_registration_hook(ErrorData *edata)
{
	if (edata->elevel >= LOG)
		lg_registration_failed = true;
	if (lg_hook_before_registration)
		lg_hook_before_registration(edata);
}

static void
lg_worker_detach(int code, Datum arg)
{
	/* An error may have left our lock held: this callback runs first. */
	LWLockReleaseAll();
	lg_lock_worker();
	lg_shared->worker_pid = 0;
	lg_shared->worker_latch = NULL;
	lg_shared->next_wakeup_at = 0;
	pg_atomic_write_u32(&lg_shared->block_watch, 0);
	LWLockRelease(lg_shared->lock);
	ConditionVariableBroadcast(&lg_shared->check_cv);
}

void
lg_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = LG_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, LG_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "lg_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "leakguard worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, LG_NAME, BGW_MAXLEN);

	/*
	 * Listen to the registration (see lg_registration_hook).  If LOG
	 * messages are not processed at all (log_min_messages = fatal or
	 * panic), a failure cannot be seen: assume success.
	 */
	lg_registration_failed = false;
	lg_hook_before_registration = emit_log_hook;
	if (message_level_is_interesting(LOG))
		emit_log_hook = lg_registration_hook;
	RegisterBackgroundWorker(&worker);
	emit_log_hook = lg_hook_before_registration;

	if (lg_registration_failed)
	{
		lg_worker_unregistered = true;
		/*
		 * Connection quotas are admission control in the backends and need
		 * no worker; but with no worker to judge a reload, the policy in
		 * force stays the one the server started with (settings.c).
		 */
		if (lg_start_errors[0] != '\0')
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("leakguard worker could not be registered; no session will be terminated, and connection quotas only report"),
					 errdetail("Without the worker, no reload is judged: until the server is restarted, connection quotas apply the leakguard settings it started with, which are invalid (%s).",
							   lg_start_errors),
					 errhint("Raise max_worker_processes (now %d) and restart the server.",
							 max_worker_processes)));
		else
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("leakguard worker could not be registered; no session will be terminated, but connection quotas are enforced"),
					 errdetail("Without the worker, no reload is judged: until the server is restarted, connection quotas apply the leakguard settings it started with, as status().policy shows them."),
					 errhint("Raise max_worker_processes (now %d) and restart the server.",
							 max_worker_processes)));
	}
}

/*
 * End the slot's period of kind k.  One idle in transaction is an episode
 * of the statistics: count it, unless it was counted when it was
 * terminated.  It ended at "end" by the system clock, and before "now_us"
 * on the monotonic clock, which bounds it should the system clock have
 * been stepped.
 */
static void
lg_slot_end_period(LgSlot *s, int k, TimestampTz end, int64 now_us)
{
	LgPeriod   *p = &s->periods[k];

	if (p->active && k == LG_KIND_IDLE_IN_XACT && !s->counted)
	{
		LgEndedEpisode *e = &lg_ended[lg_nended++];

		memcpy(e->appname, s->appname, NAMEDATALEN);
		e->userid = s->userid;
		e->idle_us = Min(Max(end - p->since, 0),
						 Max(now_us - p->origin_us, 0));
	}
	p->active = false;
}

/* The backend of the slot is gone, or another: end every period. */
static void
lg_slot_end_periods(LgSlot *s, TimestampTz end, int64 now_us)
{
	for (int k = 0; k < LG_NUM_KINDS; k++)
		lg_slot_end_period(s, k, end, now_us);
}

/*
 * Publish the episodes that ended during the scan (the 1.1 columns), and
 * the histograms' episodes the sessions recorded themselves (episodes.c).
 * Lock held exclusive.
 */
static void
lg_publish_ended(TimestampTz now)
{
	int			i;

	for (i = 0; i < lg_nended; i++)
		lg_stats_add_episode(lg_stats_entry(lg_ended[i].appname,
											lg_ended[i].userid, now),
							 lg_ended[i].idle_us);
	lg_episodes_fold_all(now);
}

/*
 * When the backend left the period that began at "since": at the start of
 * the first statement after it.  The status array keeps only the latest
 * statement's start and the latest state change, so take the earlier of
 * those that come after it.
 */
static TimestampTz
lg_period_end(TimestampTz since, const LeakguardBackend *b, TimestampTz now)
{
	TimestampTz end = now;

	if (b->state_start > since && b->state_start < end)
		end = b->state_start;
	if (b->activity_start > since && b->activity_start < end)
		end = b->activity_start;
	return end;
}

/* The start of the backend's period of kind k (lg_kinds[].period_start). */
static TimestampTz
lg_period_since(int k, const LeakguardBackend *b)
{
	return lg_kind_period_since(k, b->state_start, b->xact_start,
								b->activity_start);
}

/* The slot's backend leaves its statistics entry (connections). */
static void
lg_slot_leave(LgSlot *s)
{
	if (s->entry != NULL)
		lg_left[lg_nleft++] = s->entry;
	s->entry = NULL;
}

static void
lg_slot_start(LgSlot *s, const LeakguardBackend *b)
{
	s->pid = b->pid;
	s->proc_start = b->proc_start;
	s->appname[0] = '\0';
	s->entry = NULL;
	s->limit_generation = 0;
	for (int k = 0; k < LG_NUM_KINDS; k++)
		s->periods[k].active = false;
	s->signalled = false;
	s->superuser_kinds = 0;
	s->counted = false;
}

/*
 * The backend entered a period of kind k, which began at "since" by the
 * system clock: estimate its start on the monotonic clock, and take up what
 * a previous worker recorded for it.
 */
static void
lg_slot_start_period(int slot, LgSlot *s, int k, TimestampTz since,
					 TimestampTz now, int64 now_us)
{
	LgPeriod   *p = &s->periods[k];
	LeakguardMark *m = LG_MARK(slot, k);
	bool		recorded;
	int64		age_us;

	p->active = true;
	p->since = since;

	/*
	 * How long it has lasted: by the system clock, but not longer than
	 * since the previous scan, which saw the slot without this period (it
	 * changed since).
	 */
	age_us = Max(now - since, 0);
	if (lg_prev_scan_us != 0)
		age_us = Min(age_us, now_us - lg_prev_scan_us);
	p->origin_us = now_us - age_us;

	/* A previous worker may have handled this period. */
	recorded = (m->pid == s->pid && m->backend_start == s->proc_start &&
				m->since == since);
	p->last_action = recorded ? m->action : -1;
	if (recorded && m->action == LG_ACTION_TERMINATED)
		s->signalled = true;
	if (k == LG_KIND_IDLE_IN_XACT)
		s->counted = recorded && m->action == LG_ACTION_TERMINATED;
	p->reported = recorded && m->action != LG_ACTION_TERMINATED &&
		!lg_recheck_reported;
}

/*
 * The kind whose deadline (on the monotonic clock) comes first among the
 * periods the slot is in that are not handled yet, or -1 if none has one;
 * its deadline in *deadline_us.
 */
static int
lg_slot_next_kind(const LgSlot *s, int64 *deadline_us)
{
	int			next = -1;

	*deadline_us = 0;
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LgPeriod *p = &s->periods[k];
		int64		d;

		if (!p->active || p->reported || s->limits[k].timeout_ms <= 0 ||
			lg_kinds[k].measure != LG_MEASURE_TIME)
			continue;
		d = p->origin_us + s->limits[k].timeout_ms * INT64CONST(1000);
		if (next < 0 || d < *deadline_us)
		{
			next = k;
			*deadline_us = d;
		}
	}
	return next;
}

/*
 * Follow one status slot that changed since it was last read: its backend,
 * its periods, its name.  "now" is the system clock and "now_us" the
 * monotonic clock, read in that order at the start of the scan.  Returns
 * the earliest deadline of the periods it is in on the monotonic clock, 0 if
 * none.
 */
static int64
lg_follow_slot(int slot, const LeakguardBackend *b, bool alive, TimestampTz now,
			   int64 now_us)
{
	LgSlot	   *s = &lg_slots[slot];
	bool		in_period = false;
	int64		deadline_us;
	int			k;

	lg_xid_watch[slot / 32] &= ~((uint32) 1 << (slot % 32));
	lg_busy[slot / 32] &= ~((uint32) 1 << (slot % 32));
	if (!alive || b->type != B_BACKEND || lg_state_starting(b->state))
	{
		if (s->pid != 0)
		{
			lg_slot_end_periods(s, now, now_us);
			lg_slot_leave(s);
			s->pid = 0;
			lg_nclients--;
			lg_following[slot / 32] &= ~((uint32) 1 << (slot % 32));
		}
		return 0;
	}
	if (s->pid != b->pid || s->proc_start != b->proc_start)
	{
		if (s->pid != 0)
		{
			lg_slot_end_periods(s, now, now_us);
			lg_slot_leave(s);
		}
		else
		{
			lg_nclients++;
			lg_following[slot / 32] |= (uint32) 1 << (slot % 32);
		}
		lg_slot_start(s, b);
	}
	s->datid = b->datid;
	s->userid = b->userid;
	if (b->state != STATE_IDLE && b->state != STATE_UNDEFINED)
		lg_busy[slot / 32] |= (uint32) 1 << (slot % 32);

	/* Close the periods it left, under the name it had. */
	for (k = 0; k < LG_NUM_KINDS; k++)
	{
		LgPeriod   *p = &s->periods[k];

		if (p->active &&
			!(lg_kinds[k].applies(b->state, b->xact_start) &&
			  p->since == lg_period_since(k, b)))
			lg_slot_end_period(s, k, lg_period_end(p->since, b, now), now_us);
	}

	if (strcmp(s->appname, b->appname) != 0)
	{
		memcpy(s->appname, b->appname, NAMEDATALEN);
		s->citus_internal = (lg_citus_kind(s->appname) != LG_CITUS_NONE);
		lg_slot_leave(s);
		s->limit_generation = 0;
	}
	if (s->entry == NULL)
		lg_joined[lg_njoined++] = slot;

	/* Open those it entered. */
	for (k = 0; k < LG_NUM_KINDS; k++)
	{
		if (!lg_kinds[k].session ||
			!lg_kinds[k].applies(b->state, b->xact_start))
			continue;
		in_period = true;
		if (!s->periods[k].active)
			lg_slot_start_period(slot, s, k, lg_period_since(k, b), now,
								 now_us);
	}
	s->xact_start = b->xact_start;
	if (!in_period || s->signalled)
		return 0;

	if (s->limit_generation != lg_config_generation)
	{
		LeakguardWho who;
		char		usename[NAMEDATALEN];
		char		datname[NAMEDATALEN];
		bool		qualified = lg_rules_qualified();

		who.appname = s->appname;
		who.usename = qualified ? lg_role_name(s->userid, usename) : NULL;
		who.datname = qualified ? lg_database_name(s->datid, datname) : NULL;
		who.citus_internal = s->citus_internal;
		for (k = 0; k < LG_NUM_KINDS; k++)
			if (lg_kinds[k].session)
				lg_kind_limit_for(k, &who, &s->limits[k]);
		s->limit_generation = lg_config_generation;
	}
	for (k = 0; k < LG_NUM_KINDS; k++)
		if (lg_kinds[k].measure == LG_MEASURE_XID_AGE &&
			s->periods[k].active && !s->periods[k].reported &&
			s->limits[k].timeout_ms > 0 &&
			lg_backend_holds_horizon(slot, s->pid))
			lg_xid_watch[slot / 32] |= (uint32) 1 << (slot % 32);
	(void) lg_slot_next_kind(s, &deadline_us);
	return deadline_us;
}

/*
 * Add to the n candidates the sessions past a limit measured in
 * transactions (lg_xid_watch): the status slot of a session idle in
 * transaction does not change while other sessions consume transaction
 * IDs, so its xmin and xid are read at every scan.  Nothing is read, and
 * no lock taken, when no session is watched.  Returns the new count.
 */
static int
lg_xid_age_due(int n)
{
	bool		horizon_read = false;

	for (int w = 0; w < (MaxBackends + 31) / 32; w++)
	{
		uint32		bits = lg_xid_watch[w];

		while (bits != 0)
		{
			int			slot = w * 32 + pg_rightmost_one_pos32(bits);
			LgSlot	   *s = &lg_slots[slot];

			bits &= bits - 1;
			if (lg_counts[slot] == -1 || s->pid == 0)
				continue;		/* a candidate already, or gone */
			for (int k = 0; k < LG_NUM_KINDS; k++)
			{
				if (lg_kinds[k].measure != LG_MEASURE_XID_AGE ||
					!s->periods[k].active || s->periods[k].reported ||
					s->limits[k].timeout_ms <= 0)
					continue;
				if (!horizon_read)
				{
					lg_xid_horizon_read();
					horizon_read = true;
				}
				if (lg_backend_xid_age(slot, s->pid, false) > s->limits[k].timeout_ms)
				{
					lg_candidate_kinds[n] = k;
					lg_candidates[n++] = slot;
					lg_counts[slot] = -1;
					lg_deadlines[slot] = 0;
					break;
				}
			}
		}
	}
	return n;
}

/* Bring the deadline *nearest_us (0: none) forward to deadline_us. */
static void
lg_nearer(int64 *nearest_us, int64 deadline_us)
{
	if (*nearest_us == 0 || deadline_us < *nearest_us)
		*nearest_us = deadline_us;
}

static int
lg_cmp_pid_slot(const void *a, const void *b)
{
	int			pa = ((const LgPidSlot *) a)->pid;
	int			pb = ((const LgPidSlot *) b)->pid;

	return (pa > pb) - (pa < pb);
}

/*
 * Add to the n candidates the sessions idle in transaction that have kept
 * another session waiting for one of their locks longer than their
 * blocking limit, from the later of the waiter's waitStart and the start of
 * their idle period (both by the system clock; a row's wait from the
 * waiter's first wait for it, blocking.c).  Costs a pass over the PGPROCs,
 * and one copy of the lock manager's tables only when a waiter has waited
 * the shortest blocking limit (blocking.c); the pass is made within half
 * the shortest blocking limit of the previous one, so that every wait is
 * seen before it reaches a limit, and again when a wait it saw will reach
 * one: not at every scan; and every LG_MIN_SCAN_INTERVAL_MS while a row's
 * locker is being ended, so that its other lockers are ended as soon as
 * the waiter reaches them.  "nread" slots of lg_to_read are followed.
 * Brings *nearest_us (monotonic clock) forward to the next pass, so that
 * the worker wakes then.  Returns the new count.
 */
static int
lg_blocking_due(int n, int nread, TimestampTz now, int64 now_us,
				int64 *nearest_us)
{
	int			nblocks;
	LeakguardBlock *blocks;
	TimestampTz next_check;
	int64		next_us;
	int			npids = 0;

	if (lg_blocking_shortest_ms <= 0)
		return n;
	if (!lg_any_busy)
	{
		/* Every session idle: none can block; look once one is not. */
		lg_blocking_next_us = 0;
		return n;
	}
	if (now_us < lg_blocking_next_us)
	{
		lg_nearer(nearest_us, lg_blocking_next_us);
		return n;
	}

	/*
	 * Look again within half the shortest blocking limit, so that every wait
	 * is seen before it reaches it, or sooner when a wait seen now will
	 * reach a limit.
	 */
	next_us = now_us + Max(lg_blocking_shortest_ms * 1000 / 2,
						   LG_MIN_SCAN_INTERVAL_MS * 1000);
	nblocks = lg_blocks_find(now, lg_blocking_shortest_ms * 1000, true,
							 &blocks, &next_check);
	if (next_check != 0)
		lg_nearer(&next_us, now_us + (next_check - now));

	/* The slots by pid, once for the pass, when some session blocks. */
	lg_blocking_pass++;
	if (nblocks > 0)
	{
		for (int i = 0; i < nread; i++)
		{
			lg_pid_slots[npids].pid = lg_slots[lg_to_read[i]].pid;
			lg_pid_slots[npids].slot = lg_to_read[i];
			if (lg_pid_slots[npids].pid != 0)
				npids++;
		}
		qsort(lg_pid_slots, npids, sizeof(LgPidSlot), lg_cmp_pid_slot);
	}
	for (int b = 0; b < nblocks; b++)
	{
		const LeakguardBlock *blk = &blocks[b];
		LgPidSlot	key;
		LgPidSlot  *found;
		int			slot;
		LgSlot	   *s;
		LgPeriod   *p;
		int64		blocked_us;
		LgBlocked  *info;

		key.pid = blk->blocker_pid;
		found = bsearch(&key, lg_pid_slots, npids, sizeof(LgPidSlot),
						lg_cmp_pid_slot);
		if (found == NULL)
			continue;			/* not a client backend */
		slot = found->slot;
		s = &lg_slots[slot];
		p = &s->periods[LG_KIND_BLOCKING];

		/*
		 * A waiter for a row whose locker is being ended goes on to the row's
		 * next locker, if any, as soon as it is gone: look again then.
		 */
		if (blk->row && s->signalled)
			lg_nearer(&next_us, now_us + LG_MIN_SCAN_INTERVAL_MS * 1000);
		if (!p->active || p->reported || s->signalled ||
			s->limit_generation != lg_config_generation ||
			s->limits[LG_KIND_BLOCKING].timeout_ms <= 0)
			continue;
		blocked_us = now - Max(blk->wait_start, p->since);
		if (blocked_us < s->limits[LG_KIND_BLOCKING].timeout_ms * 1000)
		{
			lg_nearer(&next_us, now_us - blocked_us +
					  s->limits[LG_KIND_BLOCKING].timeout_ms * 1000);
			continue;
		}

		if (blk->row)
			lg_nearer(&next_us, now_us + LG_MIN_SCAN_INTERVAL_MS * 1000);
		info = &lg_blocked[slot];
		if (lg_counts[slot] != -1)
		{
			lg_candidate_kinds[n] = LG_KIND_BLOCKING;
			lg_candidates[n++] = slot;
			lg_counts[slot] = -1;
			lg_deadlines[slot] = 0;
			info->nblocked = 0;
			info->blocked_us = 0;
			info->pass = lg_blocking_pass;
		}
		else if (info->pass != lg_blocking_pass)
			continue;			/* a candidate already, for another kind */
		if (info->nblocked < LG_BLOCKED_PIDS)
			info->pids[info->nblocked] = blk->waiter_pid;
		info->nblocked++;
		info->blocked_us = Max(info->blocked_us, blocked_us);
	}
	lg_blocking_next_us = next_us;
	lg_nearer(nearest_us, next_us);
	return n;
}

/*
 * Scan the status slots that may hold a client backend (scan.c), follow
 * those that changed since the last scan, and collect the sessions past
 * their deadline.  A slot that did not change keeps the deadline computed
 * when it last did, until a reload (which can change any limit) or until
 * it is a candidate (acting on it changes what the worker recorded): both
 * have it read again.  "now" is the system clock and "now_us" the monotonic
 * clock, read in that order at the start of the scan.  Returns the number
 * of candidates; sets *nearest_us to the earliest deadline still ahead on
 * the monotonic clock (0 if none).
 */
static int
lg_scan_backends(TimestampTz now, int64 now_us, int64 *nearest_us)
{
	int			ncand = 0;
	int			nread;
	int			nchanged;
	int			slot;
	int			i;

	*nearest_us = 0;
	lg_nended = 0;
	lg_nleft = 0;
	lg_njoined = 0;

	if (lg_seen_generation != lg_config_generation)
	{
		lg_nclients = 0;
		memset(lg_following, 0, mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
		for (slot = 0; slot < MaxBackends; slot++)
		{
			lg_counts[slot] = -1;
			lg_deadlines[slot] = 0;
			if (lg_slots[slot].pid != 0)
			{
				lg_nclients++;
				lg_following[slot / 32] |= (uint32) 1 << (slot % 32);
			}
		}
		lg_seen_generation = lg_config_generation;
		lg_count_scan = 0;
	}

	nread = lg_client_slots(lg_following, lg_to_read);
	nchanged = lg_status_changed(lg_to_read, nread, lg_counts, lg_changed);
	for (i = 0; i < nchanged; i++)
	{
		LeakguardBackend b;
		bool		alive;

		slot = lg_changed[i];
		alive = lg_status_read(slot, &b);
		lg_counts[slot] = b.changecount;
		lg_deadlines[slot] = lg_follow_slot(slot, &b, alive, now, now_us);
	}

	for (i = 0; i < nread; i++)
	{
		int64		deadline_us;

		slot = lg_to_read[i];
		deadline_us = lg_deadlines[slot];
		if (deadline_us == 0)
			continue;
		if (deadline_us <= now_us)
		{
			lg_candidate_kinds[ncand] = -1;
			lg_candidates[ncand++] = slot;
			lg_counts[slot] = -1;
			lg_deadlines[slot] = 0;
		}
		else if (*nearest_us == 0 || deadline_us < *nearest_us)
			*nearest_us = deadline_us;
	}
	lg_any_busy = false;
	for (i = 0; i < (MaxBackends + 31) / 32 && !lg_any_busy; i++)
		lg_any_busy = (lg_busy[i] != 0);
	ncand = lg_xid_age_due(ncand);
	ncand = lg_blocking_due(ncand, nread, now, now_us, nearest_us);
	lg_prev_scan_us = now_us;
	return ncand;
}

/* Count a connection in its statistics entry.  Lock held exclusive. */
static void
lg_count_connection(LgSlot *s, TimestampTz now)
{
	LeakguardAppStats *entry = lg_stats_entry(s->appname, s->userid, now);

	s->entry = entry;
	if (entry->scan_no != lg_count_scan)
	{
		entry->scan_no = lg_count_scan;
		entry->scan_connections = 0;
	}
	lg_stats_count_connections(entry, now);
}

/*
 * Bring the connection counts of the statistics entries to what this scan
 * saw, and their peaks with them.  Departures first, so that one session
 * leaving and another arriving never make a peak no scan saw.  Lock held
 * exclusive.
 */
static void
lg_publish_connections(uint64 scan_no, TimestampTz now)
{
	static int64 count_day = -1;
	int64		day = now / USECS_PER_DAY;
	int			i;

	/*
	 * A full count also on the first scan of a day (UTC), so that each day's
	 * peak (suggest.c) counts the connections that stayed over from the day
	 * before.
	 */
	if (lg_count_scan == 0 || day != count_day ||
		lg_count_reset_generation != lg_shared->reset_generation)
	{
		lg_count_scan = scan_no;
		lg_shared->count_scan = scan_no;
		count_day = day;
		lg_count_reset_generation = lg_shared->reset_generation;

		/*
		 * The sessions of applications that have an entry first: until an
		 * entry is counted under the new stamp, nothing keeps it from being
		 * removed to make room (lg_stats_in_use()), so a new application
		 * counted before them could take the row of one with sessions.
		 * Then the others, which may create entries.
		 */
		for (i = 0; i < MaxBackends; i++)
		{
			LgSlot	   *s = &lg_slots[i];

			if (s->pid == 0)
				continue;
			if (lg_stats_known(s->appname))
				lg_count_connection(s, now);
			else
				s->entry = NULL;
		}
		for (i = 0; i < MaxBackends; i++)
			if (lg_slots[i].pid != 0 && lg_slots[i].entry == NULL)
				lg_count_connection(&lg_slots[i], now);
		return;
	}
	for (i = 0; i < lg_nleft; i++)
	{
		Assert(lg_left[i]->scan_no == lg_count_scan);
		lg_left[i]->scan_connections--;
	}
	for (i = 0; i < lg_njoined; i++)
		lg_count_connection(&lg_slots[lg_joined[i]], now);
}

static void
lg_log_event(const LeakguardEvent *ev)
{
	const char *user = GetUserNameFromId(ev->userid, true);
	const char *db = get_database_name(ev->datid);
	char	   *limit;
	const char *source = lg_kind_source(ev->kind, ev->rule);
	int			level = LOG;
	const char *what;

	bool		cancel = (lg_kinds[ev->kind].action == LG_ACT_CANCEL);

	switch ((LeakguardAction) ev->action)
	{
		case LG_ACTION_TERMINATED:
			what = "leakguard terminated";
			break;
		case LG_ACTION_CANCELLED:
			what = "leakguard cancelled the statement of";
			break;
		case LG_ACTION_DRY_RUN:
			what = cancel ? "leakguard (dry run) would have cancelled the statement of" :
				"leakguard (dry run) would have terminated";
			break;
		case LG_ACTION_SUPERUSER:
			what = cancel ? "leakguard did not cancel the statement of superuser" :
				"leakguard did not terminate superuser";
			break;
		case LG_ACTION_BECAME_ACTIVE:
			what = "leakguard skipped (it became active)";
			level = DEBUG1;
			break;
		default:
			what = "leakguard skipped (it is gone)";
			level = DEBUG1;
			break;
	}

	if (lg_kinds[ev->kind].measure == LG_MEASURE_XID_AGE)
		limit = psprintf(INT64_FORMAT " transactions (its snapshot or transaction ID is " INT64_FORMAT " old)",
						 ev->timeout_ms, ev->xmin_age);
	else if (lg_kinds[ev->kind].measure == LG_MEASURE_BLOCKED)
	{
		StringInfoData pids;

		initStringInfo(&pids);
		for (int i = 0; i < Min(ev->nblocked, LG_BLOCKED_PIDS); i++)
			appendStringInfo(&pids, "%s%d", i > 0 ? ", " : "", ev->blocked_pids[i]);
		if (ev->nblocked > LG_BLOCKED_PIDS)
			appendStringInfoString(&pids, ", ...");
		limit = psprintf("%s of blocking (it kept %d session(s) waiting for its locks for %.3f s: %s)",
						 lg_format_duration_ms(ev->timeout_ms), ev->nblocked,
						 (double) ev->blocked_us / USECS_PER_SEC, pids.data);
	}
	else
		limit = lg_format_duration_ms(ev->timeout_ms);

	ereport(level,
			(errmsg("%s process %d of application \"%s\" (user \"%s\", database \"%s\") %s for %.3f s; limit %s from %s",
					what, ev->pid, ev->appname,
					user ? user : "?", db ? db : "?", lg_kinds[ev->kind].during,
					(double) ev->idle_us / USECS_PER_SEC, limit, source),
			 ev->action == LG_ACTION_SUPERUSER ?
			 errdetail("Later periods of this session past this limit are not reported.") : 0,
			 ev->action == LG_ACTION_SUPERUSER ?
			 errhint("Set leakguard.terminate_superusers = on to act on superuser sessions too.") : 0));
}

/*
 * Record one batch in statistics and history, and update the slots; the
 * caller holds LeakguardShared->lock exclusive.  A reload re-examines
 * reported sessions; when that ends as before (still a superuser, still a
 * dry run) nothing new is recorded or logged.  A superuser session that is
 * only reported is recorded and logged once per kind of limit, not at
 * every period past it (a session idle for a minute between statements
 * with a limit of a second would fill the history); its later periods are
 * handled as repeats.
 */
static void
lg_record_batch(LeakguardTermination *items, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		LeakguardEvent *ev = &items[i].event;
		LgSlot	   *s = &lg_slots[items[i].slot];
		LgPeriod   *p = &s->periods[ev->kind];
		LeakguardMark *m = LG_MARK(items[i].slot, ev->kind);
		LeakguardAppStats *entry;

		items[i].repeat = (p->last_action == ev->action ||
						   (ev->action == LG_ACTION_SUPERUSER &&
							(s->superuser_kinds & (1U << ev->kind)) != 0));
		p->last_action = ev->action;
		m->pid = ev->pid;
		m->backend_start = ev->backend_start;
		m->since = lg_kind_period_since(ev->kind, ev->state_change,
										ev->xact_start, ev->query_start);
		m->action = ev->action;
		if (items[i].repeat)
		{
			p->reported = true;
			continue;
		}

		entry = lg_stats_entry(ev->appname, ev->userid, ev->at);
		lg_history_add(ev);
		switch ((LeakguardAction) ev->action)
		{
			case LG_ACTION_TERMINATED:
				entry->kinds[ev->kind].acted++;
				entry->kinds[ev->kind].last_at = ev->at;
				if (ev->kind == LG_KIND_IDLE_IN_XACT)
				{
					lg_stats_add_episode(entry, ev->idle_us);
					s->counted = true;
				}
				entry->last_terminated_at = ev->at;
				lg_sources_record(ev, items[i].query_id);
				lg_shared->terminated++;
				s->signalled = true;
				lg_scan_acted++;
				break;
			case LG_ACTION_CANCELLED:
				/* the statement is cancelled; the session goes on */
				entry->kinds[ev->kind].acted++;
				entry->kinds[ev->kind].last_at = ev->at;
				lg_sources_record(ev, items[i].query_id);
				p->reported = true;
				lg_scan_acted++;
				break;
			case LG_ACTION_DRY_RUN:
				entry->kinds[ev->kind].dry_run++;
				entry->kinds[ev->kind].last_at = ev->at;
				lg_sources_record(ev, items[i].query_id);
				lg_shared->dry_run++;
				p->reported = true;
				lg_scan_acted++;
				break;
			case LG_ACTION_SUPERUSER:
				p->reported = true;
				s->superuser_kinds |= 1U << ev->kind;
				break;
			case LG_ACTION_BECAME_ACTIVE:
			case LG_ACTION_GONE:
				lg_shared->skipped++;
				p->reported = true;
				break;
			case LG_ACTION_REFUSED:
				/* quotas are enforced by the backends themselves */
				break;
		}
	}
}

/*
 * Signal the sessions whose deadline has passed: first decide who is
 * exempt (catalog look-ups), then re-check and signal them all
 * (terminate.c).  Publishing and logging come after, so
 * that when many sessions expire together the signals go out at once,
 * rather than queueing behind bookkeeping or the exits of the sessions
 * signalled first.  Runs inside the transaction lg_scan() opened; returns
 * the number of events in lg_batch.
 */
static int
lg_signal_due(int ncand, double *exempt_ms, double *lock_wait_ms)
{
	instr_time	start;
	instr_time	elapsed;
	Oid			last_userid = InvalidOid;
	LeakguardExempt last_exempt = LG_EXEMPT_NONE;
	int			n = 0;
	int			i;

	INSTR_TIME_SET_CURRENT(start);
	for (i = 0; i < ncand; i++)
	{
		int			slot = lg_candidates[i];
		LgSlot	   *s = &lg_slots[slot];
		LeakguardExempt exempt;
		LeakguardTermination *t;
		const LeakguardLimit *limit;
		LgPeriod   *p;
		int64		deadline_us;
		int			k;

		/* The kind of limit it is due for, or its earliest deadline's. */
		k = lg_candidate_kinds[i];
		if (k < 0)
			k = lg_slot_next_kind(s, &deadline_us);
		if (k < 0)
			continue;
		p = &s->periods[k];

		/*
		 * Sessions due together are mostly of one role (one application's
		 * pool): look each role up once per run of equal roles.
		 */
		if (s->userid != last_userid || !OidIsValid(last_userid))
		{
			last_userid = s->userid;
			last_exempt = lg_role_exemption(s->userid);
		}
		exempt = last_exempt;

		if (exempt == LG_EXEMPT_ROLE)
		{
			p->reported = true;
			continue;
		}
		t = &lg_batch[n++];
		memset(t, 0, sizeof(*t));
		t->slot = slot;
		t->superuser = (exempt == LG_EXEMPT_SUPERUSER);
		t->idle_origin_us = p->origin_us;
		limit = &s->limits[k];
		t->event.pid = s->pid;
		t->event.kind = k;
		t->event.backend_start = s->proc_start;
		t->event.xact_start = s->xact_start;
		t->event.state_change =
			(lg_kinds[k].period_start == LG_START_STATE_CHANGE) ? p->since : 0;
		t->event.query_start =
			(lg_kinds[k].period_start == LG_START_QUERY) ? p->since : 0;
		t->event.datid = s->datid;
		t->event.userid = s->userid;
		t->event.timeout_ms = limit->timeout_ms;
		if (k == LG_KIND_BLOCKING)
		{
			t->event.nblocked = lg_blocked[slot].nblocked;
			t->event.blocked_us = lg_blocked[slot].blocked_us;
			memcpy(t->event.blocked_pids, lg_blocked[slot].pids,
				   sizeof(t->event.blocked_pids));
		}
		memcpy(t->event.appname, s->appname, NAMEDATALEN);
		memcpy(t->event.rule, limit->rule, LG_RULE_TEXT_LEN);
	}

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	*exempt_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	*lock_wait_ms = 0;
	if (n > 0)
		lg_terminate_batch(lg_batch, n, lg_effective_mode(), lock_wait_ms);
	return n;
}

static void
lg_check_connections(int nclients)
{
	bool		over = lg_connection_warning > 0 &&
		(int64) nclients * 100 >= (int64) lg_connection_warning * MaxConnections;

	if (over && !lg_connection_warned)
		ereport(WARNING,
				(errmsg("leakguard: %d of %d client connections are in use (%d%%)",
						nclients, MaxConnections,
						(int) ((int64) nclients * 100 / Max(MaxConnections, 1))),
				 errdetail("leakguard.connection_warning is %d%%; this warning is repeated only after the count falls below it again.",
						   lg_connection_warning),
				 errhint("See leakguard.connections for the connections by database, application and state.")));
	lg_connection_warned = over;
}

/*
 * How long to sleep after a scan whose nearest deadline still ahead on the
 * monotonic clock is nearest_us (0: none): until then, or the scan
 * interval, whichever comes first.
 */
static int64
lg_sleep_us(int64 nearest_us)
{
	int64		sleep_us = (lg_relaxed ? lg_relaxed_interval_ms :
							lg_scan_interval_ms) * INT64CONST(1000);

	if (nearest_us != 0)
		sleep_us = Max(Min(sleep_us, nearest_us - lg_monotonic_us()), 0);
	return sleep_us;
}

/*
 * Sleep until wake_us on the monotonic clock, or until there is something
 * to do: a reload, a shutdown, a check().  These are judged by their flags,
 * not by the latch, which a lock wait during the scan may have consumed;
 * so is a session beginning a transaction block while the worker sleeps
 * the relaxed interval (block_watch swapped to 0): the worker then sleeps
 * on until the normal scan interval after its previous scan, as though it
 * had never relaxed.  A latch set for nothing of these (a session that
 * swapped block_watch during a scan that did not relax, a helper's start
 * or exit) does not end the sleep: so sessions beginning transactions
 * never make the worker scan more often than the scan interval.
 */
static void
lg_wait(int64 wake_us)
{
	for (;;)
	{
		int64		now_us;

		if (lg_shutdown_requested || ConfigReloadPending ||
			pg_atomic_read_u64(&lg_shared->check_requested) != lg_check_requested)
			break;
		now_us = lg_monotonic_us();
		if (lg_relaxed && pg_atomic_read_u32(&lg_shared->block_watch) == 0)
		{
			lg_relaxed = false;
			wake_us = Min(wake_us,
						  lg_scan_start_us + lg_scan_interval_ms * INT64CONST(1000));
			lg_lock_worker();
			lg_shared->next_wakeup_at = lg_clock_now() + Max(wake_us - now_us, 0);
			LWLockRelease(lg_shared->lock);
		}
		if (wake_us <= now_us)
			break;

		/* Round up: waking a little late is fine, early is not. */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ((wake_us - now_us + 999) / 1000),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * A session has begun a transaction block (BEGIN, START TRANSACTION,
 * COMMIT or ROLLBACK AND CHAIN), from the utility hook: if the worker
 * sleeps longer than the kinds in a block allow (block_watch), tell it.
 * Costs a full barrier and one load of a shared word, unless the worker
 * sleeps so; then the first session to begin a block swaps the word and
 * sets the worker's latch.  worker_latch is read without the lock: it is
 * an aligned pointer into a PGPROC, whose memory outlives any process, and
 * setting the latch of a worker that just exited wakes at worst another
 * process for nothing.
 */
void
lg_block_begun(void)
{
	Latch	   *latch;

	if (lg_shared == NULL || MyBackendType != B_BACKEND ||
		!IsTransactionBlock())
		return;

	/* Our status said "active" before the statement ran: see worker.c. */
	pg_memory_barrier();
	if (pg_atomic_read_u32(&lg_shared->block_watch) == 0 ||
		pg_atomic_exchange_u32(&lg_shared->block_watch, 0) == 0)
		return;
	latch = *(Latch *volatile *) &lg_shared->worker_latch;
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * Say when the worker wakes next, and complete the check() requests made
 * before the scan began.  Lock held exclusive: by a scan that publishes
 * anyway and has nothing left to log, else after the scan.  Whoever waits
 * in check() is woken (check_cv) only if a request was completed.
 */
static void
lg_publish_wake(int64 sleep_us)
{
	lg_wake_published = true;
	lg_shared->next_wakeup_at = lg_clock_now() + sleep_us;
	if (lg_check_requested > lg_shared->check_completed)
	{
		lg_shared->check_completed = lg_check_requested;
		lg_shared->check_result = lg_scan_acted;
		lg_check_done = true;
	}
}

/*
 * One full pass; returns the nearest deadline still ahead on the monotonic
 * clock, or 0.  also_us (0: none) is another time to wake at on that clock
 * (the prepared transactions' next look), counted in the wake-up the scan
 * publishes.
 */
static int64
lg_scan(int64 also_us)
{
	TimestampTz now = lg_clock_now();
	int64		now_us = lg_monotonic_us();
	int64		nearest_us;
	instr_time	start;
	instr_time	read_done;
	instr_time	signalled;
	instr_time	published;
	instr_time	logged;
	double		exempt_ms = 0;
	double		lock_wait_ms = 0;
	double		scan_ms;
	int			ncand;
	int			nevents = 0;
	uint64		scan_no;
	int			i;

	INSTR_TIME_SET_CURRENT(start);

	/*
	 * Should this scan find no session in a transaction block, a session
	 * that begins one from now on tells the worker: ask before reading the
	 * slots, with a full barrier in between (see the top of the file).
	 */
	lg_scan_start_us = now_us;
	if (lg_relaxed_interval_ms > lg_scan_interval_ms)
	{
		pg_atomic_write_u32(&lg_shared->block_watch, 1);
		pg_memory_barrier();
	}
	lg_names_refresh(now_us);
	if (lg_names_seen != lg_names_generation)
	{
		lg_names_seen = lg_names_generation;
		lg_config_generation++;
	}
	ncand = lg_scan_backends(now, now_us, &nearest_us);
	lg_relaxed = (lg_relaxed_interval_ms > lg_scan_interval_ms && !lg_any_busy);
	if (lg_relaxed_interval_ms > lg_scan_interval_ms && lg_any_busy)
		pg_atomic_write_u32(&lg_shared->block_watch, 0);	/* it polls */
	if (also_us != 0)
		lg_nearer(&nearest_us, also_us);
	INSTR_TIME_SET_CURRENT(read_done);

	/* Signals first, bookkeeping after. */
	if (ncand > 0)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		nevents = lg_signal_due(ncand, &exempt_ms, &lock_wait_ms);
	}
	INSTR_TIME_SET_CURRENT(signalled);

	/* Before check() may return, below. */
	lg_check_connections(lg_nclients);

	/* Publish connection counts, ended episodes and the events in one go. */
	lg_lock_worker();
	scan_no = lg_shared->scans + 1;
	lg_publish_connections(scan_no, now);
	lg_publish_ended(now);
	lg_record_batch(lg_batch, nevents);

	/* The scan's cost: reading the array and publishing, not signalling. */
	INSTR_TIME_SET_CURRENT(published);
	scan_ms = INSTR_TIME_GET_MILLISEC(read_done) - INSTR_TIME_GET_MILLISEC(start) +
		INSTR_TIME_GET_MILLISEC(published) - INSTR_TIME_GET_MILLISEC(signalled);
	lg_shared->scans = scan_no;
	lg_shared->last_scan_at = now;
	lg_shared->scan_time_total_ms += scan_ms;
	lg_shared->scan_time_max_ms = Max(lg_shared->scan_time_max_ms, scan_ms);
	/* With no log line to write, check() may return now: one lock less. */
	if (ncand == 0)
		lg_publish_wake(lg_sleep_us(nearest_us));
	LWLockRelease(lg_shared->lock);
	lg_stats_full_report();

	if (ncand > 0)
	{
		for (i = 0; i < nevents; i++)
			if (!lg_batch[i].repeat)
				lg_log_event(&lg_batch[i].event);
		CommitTransactionCommand();

		/* Where the time of a batch went, for whoever profiles it. */
		INSTR_TIME_SET_CURRENT(logged);
		ereport(DEBUG1,
				(errmsg_internal("leakguard batch: %d due, %d acted on; read %.3f ms, exemptions %.3f ms, ProcArrayLock wait %.3f ms, re-checks and signals %.3f ms, publishing %.3f ms, logging %.3f ms",
								 ncand, nevents,
								 INSTR_TIME_GET_MILLISEC(read_done) - INSTR_TIME_GET_MILLISEC(start),
								 exempt_ms, lock_wait_ms,
								 INSTR_TIME_GET_MILLISEC(signalled) - INSTR_TIME_GET_MILLISEC(read_done) -
								 exempt_ms - lock_wait_ms,
								 INSTR_TIME_GET_MILLISEC(published) - INSTR_TIME_GET_MILLISEC(signalled),
								 INSTR_TIME_GET_MILLISEC(logged) - INSTR_TIME_GET_MILLISEC(published))));
	}

	return nearest_us;
}

/*
 * The longest sleep between scans: naptime, but at most half the shortest
 * limit in force, so that every period is seen before its deadline;
 * at least LG_MIN_SCAN_INTERVAL_MS, which bounds the scan rate.  While a
 * rule is qualified by role or database, at most LG_NAMES_REFRESH_MS, so
 * that a renamed or dropped role is seen that soon (names.c).  The relaxed
 * interval is the same without the limits of the kinds in a transaction
 * block.
 */
static int
lg_interval_for(int64 shortest)
{
	int			interval = lg_naptime_ms;

	if (shortest > 0 && shortest / 2 < interval)
		interval = (int) Max(shortest / 2, LG_MIN_SCAN_INTERVAL_MS);
	if (lg_rules_qualified())
		interval = Min(interval, LG_NAMES_REFRESH_MS);
	return interval;
}

static void
lg_set_scan_interval(void)
{
	lg_blocking_shortest_ms = lg_kind_shortest_ms(LG_KIND_BLOCKING);
	lg_blocking_next_us = 0;
	lg_scan_interval_ms = lg_interval_for(lg_shortest_limit_ms(true));
	lg_relaxed_interval_ms = lg_interval_for(lg_shortest_limit_ms(false));
	lg_relaxed = false;
	pg_atomic_write_u32(&lg_shared->block_watch, 0);
}

/*
 * What a reload must change for sessions already reported to be
 * re-examined: the mode, the exemptions, and the limits of every kind on
 * sessions.
 */
typedef struct LgPolicy
{
	int			mode;
	bool		terminate_superusers;
	char	   *exempt_roles;
	int			default_limit[LG_NUM_KINDS];
	char	   *rules[LG_NUM_KINDS];
} LgPolicy;

static void
lg_policy_save(LgPolicy *p)
{
	p->mode = lg_effective_mode();
	p->terminate_superusers = lg_terminate_superusers;
	p->exempt_roles = pstrdup(lg_exempt_roles ? lg_exempt_roles : "");
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const char *rules = lg_kind_rules_text[k];

		p->default_limit[k] = lg_kind_limit[k];
		p->rules[k] = pstrdup(rules ? rules : "");
	}
}

static bool
lg_policy_changed(const LgPolicy *p)
{
	if (p->mode != lg_effective_mode() ||
		p->terminate_superusers != lg_terminate_superusers ||
		strcmp(p->exempt_roles, lg_exempt_roles ? lg_exempt_roles : "") != 0)
		return true;
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const char *rules;

		if (!lg_kinds[k].session)
			continue;
		rules = lg_kind_rules_text[k];
		if (p->default_limit[k] != lg_kind_limit[k] ||
			strcmp(p->rules[k], rules ? rules : "") != 0)
			return true;
	}
	return false;
}

#ifdef LG_FAULT_RELOAD_PAUSE
/*
 * Test builds only (run-tests.sh builds a copy with LG_FAULT_RELOAD_PAUSE
 * for test/t/022): while a file of this name exists in the data directory,
 * a reload waits between ProcessConfigFile() and leakguard's own reading of
 * the files (at most 5 minutes), so that a test can edit them in between.
 */
#define LG_FAULT_PAUSE_FILE		"leakguard_fault_reload_pause"

static void
lg_fault_reload_pause(void)
{
	struct stat st;
	int			waited_ms = 0;

	if (stat(LG_FAULT_PAUSE_FILE, &st) != 0)
		return;
	ereport(LOG, (errmsg_internal("leakguard fault injection: reload paused")));
	while (stat(LG_FAULT_PAUSE_FILE, &st) == 0 && waited_ms < 300 * 1000)
	{
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		waited_ms += 10;
	}
}
#endif

static void
lg_reload(void)
{
	MemoryContext context;
	MemoryContext old;
	LgPolicy	before;
	char	  **saved;

	context = AllocSetContextCreate(CurrentMemoryContext, "leakguard reload",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(context);

	ConfigReloadPending = false;
	lg_policy_save(&before);
	saved = lg_settings_save();
	ProcessConfigFile(PGC_SIGHUP);
#ifdef LG_FAULT_RELOAD_PAUSE
	lg_fault_reload_pause();
#endif
	lg_config_unsafe = lg_config_judge(saved);
	lg_set_scan_interval();

	if (lg_policy_changed(&before))
	{
		/*
		 * New rules apply to sessions already idle, and what was only
		 * reported is looked at again.  Leaving or entering "off" forgets
		 * the episodes: they were not watched in between.
		 */
		lg_config_generation++;
		if ((before.mode == LG_MODE_OFF) != (lg_effective_mode() == LG_MODE_OFF))
		{
			memset(lg_slots, 0, mul_size(MaxBackends, sizeof(LgSlot)));
			memset(lg_xid_watch, 0, mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
			memset(lg_busy, 0, mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
			lg_prev_scan_us = 0;
		}
		for (int i = 0; i < MaxBackends; i++)
			for (int k = 0; k < LG_NUM_KINDS; k++)
				lg_slots[i].periods[k].reported = false;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);

	lg_lock_worker();
	lg_shared->worker_mode = lg_effective_mode();
	LWLockRelease(lg_shared->lock);
}

/*
 * The worker cannot do its job on this server: say so where the operator
 * looks, and stop for good (exit code 0: the postmaster does not restart
 * it).
 */
static void
lg_worker_disable(const char *why)
{
	lg_lock_worker();
	lg_shared->worker_disabled = true;
	strlcpy(lg_shared->worker_error, why, sizeof(lg_shared->worker_error));
	LWLockRelease(lg_shared->lock);

	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("leakguard worker stopped: %s", why),
			 errdetail("No session will be terminated until the server is restarted."),
			 errhint("Check that this leakguard build matches the server version.")));
	proc_exit(0);
}

void
lg_worker_main(Datum arg)
{
	MemoryContext scan_context;
	bool		taken_up;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	lg_install_sigterm_handler();
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("leakguard");

	/*
	 * Catalog look-ups happen only for sessions past their deadline; should
	 * someone hold a lock on pg_authid, fail and restart rather than wait.
	 */
	SetConfigOption("lock_timeout", "10s", PGC_SUSET, PGC_S_OVERRIDE);

	lg_require_shmem();
	if (lg_shared->worker_disabled)
		proc_exit(0);
	if (!lg_status_attach())
		lg_worker_disable("it could not find the backend status array in shared memory");

	lg_slots = MemoryContextAllocZero(TopMemoryContext,
									  mul_size(MaxBackends, sizeof(LgSlot)));
	lg_counts = MemoryContextAlloc(TopMemoryContext,
								   mul_size(MaxBackends, sizeof(int)));
	lg_deadlines = MemoryContextAlloc(TopMemoryContext,
									  mul_size(MaxBackends, sizeof(int64)));
	lg_ended = MemoryContextAlloc(TopMemoryContext,
								  mul_size(MaxBackends, sizeof(LgEndedEpisode)));
	lg_following = MemoryContextAllocZero(TopMemoryContext,
										  mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
	lg_to_read = MemoryContextAlloc(TopMemoryContext,
									mul_size(MaxBackends, sizeof(int)));
	lg_changed = MemoryContextAlloc(TopMemoryContext,
									mul_size(MaxBackends, sizeof(int)));
	lg_left = MemoryContextAlloc(TopMemoryContext,
								 mul_size(MaxBackends, sizeof(LeakguardAppStats *)));
	lg_joined = MemoryContextAlloc(TopMemoryContext,
								   mul_size(MaxBackends, sizeof(int)));
	lg_candidates = MemoryContextAlloc(TopMemoryContext,
									   mul_size(MaxBackends, sizeof(int)));
	lg_candidate_kinds = MemoryContextAlloc(TopMemoryContext,
											mul_size(MaxBackends, sizeof(int)));
	lg_xid_watch = MemoryContextAllocZero(TopMemoryContext,
										  mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
	lg_busy = MemoryContextAllocZero(TopMemoryContext,
									 mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
	lg_blocked = MemoryContextAlloc(TopMemoryContext,
									mul_size(MaxBackends, sizeof(LgBlocked)));
	lg_pid_slots = MemoryContextAlloc(TopMemoryContext,
									  mul_size(MaxBackends, sizeof(LgPidSlot)));
	lg_batch = MemoryContextAlloc(TopMemoryContext,
								  mul_size(MaxBackends, sizeof(LeakguardTermination)));
	scan_context = AllocSetContextCreate(TopMemoryContext, "leakguard scan",
										 ALLOCSET_DEFAULT_SIZES);
	lg_names_init();

	lg_config_unsafe = lg_config_start(&taken_up);
	lg_recheck_reported = !taken_up;
	lg_set_scan_interval();

	lg_lock_worker();
	lg_shared->worker_pid = MyProcPid;
	lg_shared->worker_latch = MyLatch;
	lg_shared->worker_started_at = lg_clock_now();
	lg_shared->worker_mode = lg_effective_mode();
	LWLockRelease(lg_shared->lock);
	before_shmem_exit(lg_worker_detach, (Datum) 0);

	ereport(LOG,
			(errmsg("leakguard worker started in mode %s",
					lg_mode_name(lg_effective_mode()))));

	while (!lg_shutdown_requested)
	{
		int64		nearest_us = 0;
		int64		sleep_us;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			lg_reload();
		if (lg_shutdown_requested)
			break;

		/* The requests this scan answers: those made before it reads. */
		lg_check_requested = pg_atomic_read_u64(&lg_shared->check_requested);
		pg_read_barrier();
		lg_wake_published = false;
		lg_check_done = false;

		lg_scan_acted = 0;
		old = MemoryContextSwitchTo(scan_context);
		if (lg_effective_mode() != LG_MODE_OFF)
		{
			int64		prepared_us = lg_prepared_check();

			nearest_us = lg_scan(prepared_us);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(scan_context);

		sleep_us = lg_sleep_us(nearest_us);
		if (!lg_wake_published)
		{
			lg_lock_worker();
			lg_publish_wake(sleep_us);
			LWLockRelease(lg_shared->lock);
		}
		if (lg_check_done)
			ConditionVariableBroadcast(&lg_shared->check_cv);

		lg_wait(lg_monotonic_us() + sleep_us);
	}

	/* Server shutdown: leave quietly.  Anyone else: be restarted. */
	if (lg_sigterm_sender == (int) PostmasterPid)
		proc_exit(0);
	ereport(LOG,
			(errmsg("leakguard worker stopped by SIGTERM from process %d; it restarts in %d s",
					(int) lg_sigterm_sender, LG_RESTART_SECONDS)));
	proc_exit(1);
}
