/*-------------------------------------------------------------------------
 *
 * prepared.c
 *		The warning for prepared transactions that nobody finishes.
 *
 * A prepared transaction left behind by a crashed transaction manager holds
 * its locks and the xmin horizon, and no session exists to end.  leakguard
 * never commits or rolls one back: with leakguard.prepared_transaction_warning
 * set, it logs a WARNING once for each one older than that, with what a DBA
 * needs to finish it (gid, owner, database, age, the age of its xid).
 *
 * Where the facts are.  What names a prepared transaction (gid, prepared_at,
 * owner) is in twophase.c's GlobalTransactionData, private to it; the one
 * public way to read it is pg_prepared_xact() (the pg_prepared_xacts view),
 * which needs a database: it builds its tuple descriptor through pg_type.
 * The worker is connected to none.  What the worker can read is public too:
 * the dummy PGPROCs of prepared transactions (PreparedXactProcs, one per
 * max_prepared_transactions, storage/proc.h), which carry the transaction's
 * xid and database but neither gid nor timestamp.  twophase.c fills one at
 * PREPARE TRANSACTION (and at the end of recovery for those it recovers),
 * and leaves it as it is when the transaction is finished (procarray.c's
 * ProcArrayRemove() keeps the PGPROC's contents, on which twophase.c
 * relies).  So the work is split:
 *
 *	- the worker, at every pass of its loop (lg_prepared_check()), loads the
 *	  xid of each dummy PGPROC: max_prepared_transactions aligned loads, and
 *	  none at all while that is 0 or the warning is off.  A slot whose xid
 *	  changed holds a transaction prepared since the previous pass, so it is
 *	  not due before that pass's time plus the threshold: until then,
 *	  nothing more is done for it, and a transaction finished sooner (the
 *	  usual case, even under heavy two-phase traffic) costs nothing more.
 *	  When one may be due, the worker looks it up in the table below (its
 *	  exact prepared_at, whether it was warned about); one not there is
 *	  asked about once with TransactionIdIsInProgress(), since a finished
 *	  one keeps its xid in the dummy PGPROC;
 *	- for one still in progress, the worker starts a helper: a dynamic
 *	  background worker connected by OID to that transaction's database
 *	  (which cannot be dropped while it holds a prepared transaction; its
 *	  datallowconn is bypassed).  The helper reads pg_prepared_xacts, which
 *	  lists the prepared transactions of every database, replaces the table
 *	  with what it read, each entry keeping whether it was warned about,
 *	  and marks those past the threshold as warned; then, the lock
 *	  released, it logs their warnings, and exits.  It learns the threshold
 *	  from the worker (bgw_extra), so that it applies the policy the worker
 *	  enforces (settings.c).
 *
 * The table is in shared memory, keyed by (xid, prepared_at), so a
 * restarted worker neither warns again nor forgets; after a server restart
 * or a crash restart, a prepared transaction still there is warned about
 * once more.  One helper runs at a time: one that starts while another
 * runs (started by a worker since restarted) exits without reading, and
 * the worker starts no helper sooner than LG_PREPARED_RETRY_MS after the
 * previous one, unless that one read a transaction before it was due (the
 * worker's estimate of when one is due can be early by a pass).  A
 * helper costs a process start and a connection: the worker starts one
 * only when a prepared transaction may have become due, never for one
 * finished sooner.
 *
 * On a hot standby, replayed prepared transactions have no dummy PGPROC
 * and pg_prepared_xacts lists none (twophase.c keeps them as not valid
 * until the end of recovery): nothing is warned about there, and they could
 * not be finished there anyway; the primary warns.  After a promotion they
 * get their dummy PGPROCs and are warned about as on any primary.
 *
 * status() counts the prepared transactions and gives the oldest
 * prepared_at itself, from pg_prepared_xacts in the reader's own backend
 * (sqlfuncs.c): it needs neither the warning nor the helper.
 *
 * Shared state: LeakguardShared->prepared, prepared_count and
 * prepared_helper_pid, under LeakguardShared->lock.  The helper takes it
 * exclusive to claim its turn, to replace the table, and at exit; the
 * worker takes it shared to copy the table, only when a prepared
 * transaction may be due.  Nothing is logged under it and no other lock is
 * taken while it is held.  What the worker remembers of each dummy PGPROC
 * is its own, in local memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/proc.h"

#include "kinds.h"
#include "leakguard.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "sqlfuncs.h"
#include "worker.h"

#include "access/twophase.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* The shortest interval between the starts of two helpers. */
#define LG_PREPARED_RETRY_MS	1000

#define LG_PREPARED_QUERY \
	"SELECT p.transaction, p.gid, p.prepared, p.owner, p.database," \
	" pg_catalog.age(p.transaction)" \
	" FROM pg_catalog.pg_prepared_xacts p"

/* What the worker remembers of one dummy PGPROC. */
typedef struct LgPreparedSlot
{
	TransactionId xid;			/* its xid when last loaded */
	TimestampTz since;			/* the transaction was prepared no sooner
								 * (exact once the helper has read it); 0:
								 * unknown */
	bool		done;			/* warned about, or finished: nothing to do */
} LgPreparedSlot;

static LgPreparedSlot *lg_pslots = NULL;
static LeakguardPrepared *lg_ptable = NULL;
static TimestampTz lg_prepared_last_pass = 0;
static BackgroundWorkerHandle *lg_prepared_helper = NULL;
static int64 lg_prepared_started_us = 0;
static TimestampTz lg_prepared_started_at = 0;
static bool lg_prepared_start_failed = false;

/* One row of pg_prepared_xacts, as the helper read it. */
typedef struct LgPreparedRow
{
	TransactionId xid;
	TimestampTz prepared_at;
	char	   *gid;
	char	   *owner;
	char	   *database;
	int32		xid_age;
	bool		warn;
} LgPreparedRow;

/*
 * In the worker: start a helper connected to database dbid.  A failure
 * (max_worker_processes exhausted) is logged once until a helper starts
 * again; the worker tries again after LG_PREPARED_RETRY_MS.
 */
static void
lg_prepared_start_helper(Oid dbid)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		started;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, LG_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "lg_prepared_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "leakguard prepared transactions", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "leakguard prepared transactions", BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dbid);
	memcpy(worker.bgw_extra, &lg_kind_limit[LG_KIND_PREPARED], sizeof(int));
	/* the postmaster sets this worker's latch when the helper stops */
	worker.bgw_notify_pid = MyProcPid;

	/* The handle outlives the pass (the worker resets its scan context). */
	lg_prepared_started_us = lg_monotonic_us();
	lg_prepared_started_at = GetCurrentTimestamp();
	old = MemoryContextSwitchTo(TopMemoryContext);
	started = RegisterDynamicBackgroundWorker(&worker, &lg_prepared_helper);
	MemoryContextSwitchTo(old);
	if (started)
	{
		lg_prepared_start_failed = false;
		return;
	}
	lg_prepared_helper = NULL;
	if (!lg_prepared_start_failed)
		ereport(LOG,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("leakguard could not start its helper for prepared transactions"),
				 errdetail("No prepared transaction is warned about until it can."),
				 errhint("Raise max_worker_processes (now %d).",
						 max_worker_processes)));
	lg_prepared_start_failed = true;
}

/* The entry of xid in the worker's copy of the table (n entries), or NULL. */
static const LeakguardPrepared *
lg_prepared_find(TransactionId xid, int n)
{
	for (int i = 0; i < n; i++)
		if (lg_ptable[i].xid == xid)
			return &lg_ptable[i];
	return NULL;
}

/*
 * In the worker, at every pass of its loop while its mode is not off:
 * follow the dummy PGPROCs of prepared transactions, and start a helper
 * when one may be past leakguard.prepared_transaction_warning.  Returns
 * when to look again, on the monotonic clock, or 0 for no sooner than the
 * next pass.
 */
int64
lg_prepared_check(void)
{
	int64		threshold_us = lg_kind_limit[LG_KIND_PREPARED] * INT64CONST(1000);
	TimestampTz now;
	TimestampTz nearest = 0;
	int64		now_us;
	int64		retry_us;
	bool		any_due = false;
	bool		want_helper = false;
	bool		read_too_soon = false;
	Oid			dbid = InvalidOid;
	int			n;
	pid_t		pid;

	if (lg_kind_limit[LG_KIND_PREPARED] == 0 || max_prepared_xacts == 0)
	{
		lg_prepared_last_pass = 0;
		return 0;
	}
	if (lg_pslots == NULL)
	{
		lg_pslots = MemoryContextAllocZero(TopMemoryContext,
										   mul_size(max_prepared_xacts,
													sizeof(LgPreparedSlot)));
		lg_ptable = MemoryContextAlloc(TopMemoryContext,
									   mul_size(max_prepared_xacts,
												sizeof(LeakguardPrepared)));
	}
	if (lg_prepared_helper != NULL &&
		GetBackgroundWorkerPid(lg_prepared_helper, &pid) == BGWH_STOPPED)
	{
		pfree(lg_prepared_helper);
		lg_prepared_helper = NULL;
	}

	now = GetCurrentTimestamp();
	for (int i = 0; i < max_prepared_xacts; i++)
	{
		LgPreparedSlot *s = &lg_pslots[i];
		TransactionId xid = *(volatile TransactionId *) &PreparedXactProcs[i].xid;

		if (xid != s->xid)
		{
			s->xid = xid;
			s->since = lg_prepared_last_pass;
			s->done = !TransactionIdIsValid(xid);
		}
		if (!s->done && s->since + threshold_us <= now)
			any_due = true;
	}
	lg_prepared_last_pass = now;

	/* Those that may be due: what the helper last read of them. */
	n = 0;
	if (any_due)
	{
		LWLockAcquire(lg_shared->lock, LW_SHARED);
		n = lg_shared->prepared_count;
		memcpy(lg_ptable, lg_shared->prepared, n * sizeof(LeakguardPrepared));
		LWLockRelease(lg_shared->lock);
	}
	for (int i = 0; i < max_prepared_xacts; i++)
	{
		LgPreparedSlot *s = &lg_pslots[i];

		if (s->done)
			continue;
		if (s->since + threshold_us <= now)
		{
			const LeakguardPrepared *e = lg_prepared_find(s->xid, n);

			if (e != NULL && e->warned)
			{
				s->done = true;
				continue;
			}
			if (e != NULL)
				s->since = e->prepared_at;
			if (s->since + threshold_us <= now)
			{
				/* no database: the slot is being filled again; next pass */
				Oid			db = *(volatile Oid *) &PreparedXactProcs[i].databaseId;

				if (!TransactionIdIsInProgress(s->xid))
					s->done = true;
				else if (OidIsValid(db))
				{
					want_helper = true;
					dbid = db;
					/* read before it was due: read again now */
					if (e != NULL && lg_prepared_started_at < s->since + threshold_us)
						read_too_soon = true;
				}
				continue;
			}
		}
		if (nearest == 0 || s->since + threshold_us < nearest)
			nearest = s->since + threshold_us;
	}

	now_us = lg_monotonic_us();
	if (want_helper && lg_prepared_helper == NULL)
	{
		retry_us = lg_prepared_started_us + LG_PREPARED_RETRY_MS * INT64CONST(1000);
		if (lg_prepared_started_us == 0 || retry_us <= now_us || read_too_soon)
			lg_prepared_start_helper(dbid);
		else
			return retry_us;
	}
	if (nearest == 0)
		return 0;
	return now_us + Max(nearest - now, 0);
}

/* At the helper's exit: another may run. */
static void
lg_prepared_helper_exit(int code, Datum arg)
{
	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	if (lg_shared->prepared_helper_pid == MyProcPid)
		lg_shared->prepared_helper_pid = 0;
	LWLockRelease(lg_shared->lock);
}

/* The text of a column of the current SPI row, in context cxt. */
static char *
lg_prepared_text(HeapTuple tuple, int col, MemoryContext cxt)
{
	char	   *value = SPI_getvalue(tuple, SPI_tuptable->tupdesc, col);

	return value ? MemoryContextStrdup(cxt, value) : NULL;
}

/*
 * Read pg_prepared_xacts into rows (at most max_prepared_xacts) allocated
 * in cxt; returns how many.
 */
static int
lg_prepared_read(LgPreparedRow *rows, MemoryContext cxt)
{
	int			n;

	if (SPI_execute(LG_PREPARED_QUERY, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "leakguard could not read pg_prepared_xacts");
	n = (int) Min(SPI_processed, (uint64) max_prepared_xacts);
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		rows[i].xid = DatumGetTransactionId(SPI_getbinval(tuple, desc, 1, &isnull));
		rows[i].gid = lg_prepared_text(tuple, 2, cxt);
		rows[i].prepared_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 3, &isnull));
		rows[i].owner = lg_prepared_text(tuple, 4, cxt);
		rows[i].database = lg_prepared_text(tuple, 5, cxt);
		rows[i].xid_age = DatumGetInt32(SPI_getbinval(tuple, desc, 6, &isnull));
		rows[i].warn = false;
	}
	return n;
}

/*
 * Replace the shared table with the n rows read, each keeping whether it
 * was warned about; mark those past threshold_ms at "now" as warned, and
 * set warn on those not warned about before.  table is room for
 * max_prepared_xacts entries, allocated beforehand.
 */
static void
lg_prepared_claim(LgPreparedRow *rows, int n, int threshold_ms,
				  TimestampTz now, LeakguardPrepared *table)
{
	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		bool		warned = false;
		bool		due = now - rows[i].prepared_at >= threshold_ms * INT64CONST(1000);

		for (int j = 0; j < lg_shared->prepared_count; j++)
			if (lg_shared->prepared[j].xid == rows[i].xid &&
				lg_shared->prepared[j].prepared_at == rows[i].prepared_at)
			{
				warned = lg_shared->prepared[j].warned;
				break;
			}
		rows[i].warn = due && !warned;
		table[i].xid = rows[i].xid;
		table[i].prepared_at = rows[i].prepared_at;
		table[i].warned = warned || due;
	}
	memcpy(lg_shared->prepared, table, n * sizeof(LeakguardPrepared));
	lg_shared->prepared_count = n;
	LWLockRelease(lg_shared->lock);
}

static void
lg_prepared_warn(const LgPreparedRow *row, int threshold_ms, TimestampTz now)
{
	int64		age_us = now - row->prepared_at;
	char	   *age;
	char	   *gid = quote_literal_cstr(row->gid);

	age = DatumGetCString(DirectFunctionCall1(interval_out,
											  lg_interval_us(age_us - age_us % USECS_PER_SEC)));
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("leakguard: prepared transaction %s is older than %s",
					gid, lg_format_duration_ms(threshold_ms)),
			 errdetail("Prepared transaction %s of role \"%s\" in database \"%s\" was prepared at %s, %s ago; its transaction ID %u is %d transactions old.  Until it is finished it keeps its locks and holds back the xmin horizon.",
					   gid, row->owner ? row->owner : "?",
					   row->database ? row->database : "?",
					   timestamptz_to_str(row->prepared_at), age,
					   row->xid, row->xid_age),
			 errhint("Finish it with COMMIT PREPARED %s or ROLLBACK PREPARED %s, connected to database \"%s\" as its owner or a superuser; leakguard never finishes it, and warns about it once.",
					 gid, gid, row->database ? row->database : "?")));
}

/*
 * The helper's main function: read pg_prepared_xacts, connected to the
 * database given as the argument, warn about those past the threshold the
 * worker gave (bgw_extra) and not warned about before, and exit.
 */
void
lg_prepared_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	int			threshold_ms;
	bool		busy;
	LgPreparedRow *rows;
	LeakguardPrepared *table;
	MemoryContext cxt;
	TimestampTz now;
	int			n;

	memcpy(&threshold_ms, MyBgworkerEntry->bgw_extra, sizeof(int));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	lg_require_shmem();

	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	busy = lg_shared->prepared_helper_pid != 0;
	if (!busy)
		lg_shared->prepared_helper_pid = MyProcPid;
	LWLockRelease(lg_shared->lock);
	if (busy)
		proc_exit(0);
	before_shmem_exit(lg_prepared_helper_exit, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid,
											  BGWORKER_BYPASS_ALLOWCONN);
	pgstat_report_appname("leakguard");

	/* What is read outlives the transaction: the warnings come after it. */
	cxt = AllocSetContextCreate(TopMemoryContext, "leakguard prepared",
								ALLOCSET_DEFAULT_SIZES);
	rows = MemoryContextAlloc(cxt, mul_size(max_prepared_xacts, sizeof(LgPreparedRow)));
	table = MemoryContextAlloc(cxt, mul_size(max_prepared_xacts, sizeof(LeakguardPrepared)));

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "leakguard could not connect to SPI");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, LG_PREPARED_QUERY);

	n = lg_prepared_read(rows, cxt);
	now = GetCurrentTimestamp();
	lg_prepared_claim(rows, n, threshold_ms, now, table);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	MemoryContextSwitchTo(cxt);
	for (int i = 0; i < n; i++)
		if (rows[i].warn)
			lg_prepared_warn(&rows[i], threshold_ms, now);
	proc_exit(0);
}
