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
 * How each period is followed, its deadline and the candidates are
 * tracker.c's; the limits read at every scan, measure_xid.c's and
 * measure_lock.c's; the signals, terminate.c's; what is published,
 * publish.c's.  All memory the scan needs is allocated once at start.
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
 * Shared state: LeakguardShared (worker fields, check requests, the scan's
 * counters) under LeakguardShared->lock; block_watch and check_requested
 * are atomics read without it; see shmem.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "leakguard.h"
#include "measure.h"
#include "names.h"
#include "policy.h"
#include "publish.h"
#include "scan.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "stats.h"
#include "terminate.h"
#include "tracker.h"
#include "worker.h"

#include <signal.h>

#include "access/xact.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* The events of a scan's batch, [MaxBackends]. */
static LeakguardTermination *lg_batch;

/* lg_names_generation the cached limits were computed under. */
static uint64 lg_names_seen = 1;

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
 * The longest sleep between two scans, from naptime and the limits; and
 * the same when no session is in a transaction block, from the kinds whose
 * periods do not need one (greater than lg_scan_interval_ms only if the
 * kinds that do have a shorter limit).
 */
static int	lg_scan_interval_ms;
static int	lg_relaxed_interval_ms;

/*
 * The last scan found no bit in lg_busy and set block_watch: it sleeps the
 * relaxed interval, unless a session begins a transaction block.  When it
 * began on the monotonic clock.
 */
static bool lg_relaxed = false;
static int64 lg_scan_start_us = 0;

/* SIGTERM: set by the handler, with the sender's pid where known. */
static volatile sig_atomic_t lg_shutdown_requested = false;
static volatile sig_atomic_t lg_sigterm_sender = 0;

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
		lg_tracker.config_generation++;
	}
	ncand = lg_scan_backends(now, now_us, &nearest_us);
	ncand = lg_xid_age_due(ncand);
	ncand = lg_blocking_due(ncand, now, now_us, &nearest_us);
	lg_relaxed = (lg_relaxed_interval_ms > lg_scan_interval_ms && !lg_tracker.any_busy);
	if (lg_relaxed_interval_ms > lg_scan_interval_ms && lg_tracker.any_busy)
		pg_atomic_write_u32(&lg_shared->block_watch, 0);	/* it polls */
	if (also_us != 0)
		lg_nearer(&nearest_us, also_us);
	INSTR_TIME_SET_CURRENT(read_done);

	/* Signals first, bookkeeping after. */
	if (ncand > 0)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		nevents = lg_signal_due(ncand, lg_batch, &exempt_ms, &lock_wait_ms);
	}
	INSTR_TIME_SET_CURRENT(signalled);

	/* Before check() may return, below. */
	lg_check_connections(lg_tracker.nclients);

	/* Publish connection counts, ended episodes and the events in one go. */
	lg_lock_worker();
	scan_no = lg_shared->scans + 1;
	lg_publish_connections(scan_no, now);
	lg_publish_ended(now);
	lg_scan_acted += lg_record_batch(lg_batch, nevents);

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
	lg_blocking_configure();
	lg_scan_interval_ms = lg_interval_for(lg_shortest_limit_ms(true));
	lg_relaxed_interval_ms = lg_interval_for(lg_shortest_limit_ms(false));
	lg_relaxed = false;
	pg_atomic_write_u32(&lg_shared->block_watch, 0);
}

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
	lg_policy_set_unsafe(lg_config_judge(saved));
	lg_set_scan_interval();

	if (lg_policy_changed(&before))
	{
		/*
		 * New rules apply to sessions already idle, and what was only
		 * reported is looked at again.  Leaving or entering "off" forgets
		 * the episodes: they were not watched in between.
		 */
		if ((before.mode == LG_MODE_OFF) != (lg_effective_mode() == LG_MODE_OFF))
			lg_tracker_forget();
		lg_tracker_reexamine();
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

	lg_tracker_init();
	lg_blocking_init();
	lg_batch = MemoryContextAlloc(TopMemoryContext,
								  mul_size(MaxBackends, sizeof(LeakguardTermination)));
	scan_context = AllocSetContextCreate(TopMemoryContext, "leakguard scan",
										 ALLOCSET_DEFAULT_SIZES);
	lg_names_init();

	lg_policy_set_unsafe(lg_config_start(&taken_up));
	lg_tracker.recheck_reported = !taken_up;
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
