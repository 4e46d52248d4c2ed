/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL-version-dependent construct leakguard uses.
 *
 * leakguard supports PostgreSQL 15, 16, 17 and 18, and is tested on 15, 17
 * and 18 (make test-all).  Everything that differs between those versions
 * is named here and nowhere else, so a port touches one file.  Older
 * versions are refused at compile time.
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_COMPAT_H
#define LEAKGUARD_COMPAT_H

#include "postgres.h"

#include "common/string.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "rules.h"

#if PG_VERSION_NUM < 150000
#error "leakguard requires PostgreSQL 15 or later"
#endif

/*
 * The backend status array.  No version exports a pointer to it: from 17,
 * pgstat_get_beentry_by_proc_number() is public but returns an entry of the
 * caller's local snapshot, which copies every slot with its statement text
 * (what pg_stat_activity costs), on each refresh.  The worker instead finds
 * the array by the name backend_status.c gives it in the shared-memory
 * index.  Checked against 15, 16, 17 and 18: same name, same size
 * (one slot per backend, then one per auxiliary process).
 *
 * If a version renamed it, ShmemInitStruct() would allocate a new, empty
 * array instead of failing; scan.c therefore checks that the array it got
 * holds the worker's own entry, and otherwise records the failure, logs
 * it, and stops the worker for good (status().config_error says why): it
 * never scans an array that no backend writes.  The name can be overridden
 * at compile time to test exactly that.
 */
#ifndef LG_STATUS_ARRAY_NAME
#define LG_STATUS_ARRAY_NAME	"Backend Status Array"
#endif
#if PG_VERSION_NUM >= 170000
#define LG_STATUS_SLOTS			(MaxBackends + NUM_AUXILIARY_PROCS)
#else
#define LG_STATUS_SLOTS			(MaxBackends + NUM_AUXPROCTYPES)
#endif

/* The status-array slot of the current backend (0-based). */
#if PG_VERSION_NUM >= 170000
#define LG_MY_STATUS_SLOT()		(MyProcNumber)
#else
#define LG_MY_STATUS_SLOT()		(MyBackendId - 1)
#endif

/*
 * The time this backend spent idle in transaction, in microseconds, as
 * pgstat_report_activity() adds each such period when it ends (the
 * connection statistics of pg_stat_database).  A core variable, exported
 * (PGDLLIMPORT) and unchanged from 14 to 18; checked against 15, 16, 17
 * and 18.  It grows by exactly one idle-in-transaction period at each
 * statement that ends one, and is set back to 0 only when the backend
 * flushes its statistics, which it does only outside a transaction
 * (episodes.c starts counting again after every transaction end).  Were a
 * version to stop maintaining it, leakguard would record no
 * idle-in-transaction periods of the sessions themselves, only those the
 * worker ends or sees end with the session.
 */
#define lg_txn_idle_time_us()	((int64) pgStatTransactionIdleTime)

/* Reader-side snapshot of the status array, indexed from 1. */
#if PG_VERSION_NUM >= 160000
#define lg_local_beentry(i)		pgstat_get_local_beentry_by_index(i)
#else
#define lg_local_beentry(i)		pgstat_fetch_stat_local_beentry(i)
#endif

/*
 * How the server stores application_name (check_application_name() and
 * pg_clean_ascii()): bytes outside printable ASCII become '?' in 15 and
 * "\xNN" from 16 on.  rules.c reproduces both; this picks the running one.
 */
#if PG_VERSION_NUM >= 160000
#define LG_NAME_STYLE			LG_NAMES_HEX
#else
#define LG_NAME_STYLE			LG_NAMES_QMARK
#endif

/* The name pg_stat_activity shows for a backend state; NULL if none. */
static inline const char *
lg_backend_state_name(BackendState state)
{
	switch (state)
	{
		case STATE_IDLE:
			return "idle";
		case STATE_RUNNING:
			return "active";
		case STATE_IDLEINTRANSACTION:
			return "idle in transaction";
		case STATE_FASTPATH:
			return "fastpath function call";
		case STATE_IDLEINTRANSACTION_ABORTED:
			return "idle in transaction (aborted)";
		case STATE_DISABLED:
			return "disabled";
#if PG_VERSION_NUM >= 180000
		case STATE_STARTING:
			return "starting";
#endif
		case STATE_UNDEFINED:
			return NULL;
	}
	return NULL;
}

/*
 * Whether a client backend is still logging in: from 18 it is in the status
 * array then, in state "starting", with no application_name yet; before
 * authentication it is no session of anyone's, and a client that never
 * answers the password request must not take a statistics row.
 */
static inline bool
lg_state_starting(BackendState state)
{
#if PG_VERSION_NUM >= 180000
	return state == STATE_STARTING;
#else
	return false;
#endif
}

/*
 * The PGPROC of the backend in status slot "slot" whose pid is "pid", or
 * NULL.  From 17 the status slot is the proc number: one read.  In 15 and
 * 16 it is the backend ID less one (pgstat_beinit()), which is not the
 * PGPROC's index; BackendIdGetProc() (sinvaladt.c, exported in both, gone
 * in 17) maps a backend ID to its PGPROC under SInvalWriteLock held shared,
 * in constant time, where a search of the proc array by pid
 * (BackendPidGetProc()) takes ProcArrayLock and walks every backend: with
 * n sessions watched per scan, n^2 steps.  Checked against 15 and 16: the
 * mapping is set in SharedInvalBackendInit() and cleared in
 * CleanupInvalidationState(), for the life of the backend; the pid is
 * compared, so a PGPROC handed to another backend meanwhile is not taken.
 * A caller that holds ProcArrayLock ("locked": the final re-check, once
 * per victim) keeps the search under the lock it holds, so that no second
 * lock is ever taken under ProcArrayLock.
 */
#if PG_VERSION_NUM >= 170000
static inline PGPROC *
lg_slot_proc(int slot, int pid, bool locked)
{
	PGPROC	   *proc = GetPGProcByNumber(slot);

	return (proc->pid == pid) ? proc : NULL;
}
#else
#include "storage/procarray.h"
#include "storage/sinvaladt.h"
static inline PGPROC *
lg_slot_proc(int slot, int pid, bool locked)
{
	PGPROC	   *proc;

	if (locked)
		return BackendPidGetProcWithLock(pid);
	proc = BackendIdGetProc(slot + 1);
	return (proc != NULL && proc->pid == pid) ? proc : NULL;
}
#endif

/*
 * SQLSTATE 25P04, which PostgreSQL 17's transaction_timeout reports: named
 * from 17 on; leakguard reports it on 15 and 16 too.
 */
#ifndef ERRCODE_TRANSACTION_TIMEOUT
#define ERRCODE_TRANSACTION_TIMEOUT		MAKE_SQLSTATE('2','5','P','0','4')
#endif

/*
 * GUC "extra" blocks: plain malloc() in 15, guc_malloc() (released with
 * guc_free()) from 16 on.  The rule and role-list blocks hold offsets, never
 * pointers, so a byte copy is a faithful move.
 */
#if PG_VERSION_NUM >= 160000
static inline void *
lg_guc_extra(void *malloced, size_t size)
{
	void	   *copy = guc_malloc(LOG, size);

	if (copy != NULL)
		memcpy(copy, malloced, size);
	free(malloced);
	return copy;
}
#else
#define lg_guc_extra(malloced, size)	(malloced)
#endif

/*
 * Have cb called once the current transaction has ended, after PostgreSQL
 * has reverted the settings given for the transaction only (SET LOCAL,
 * set_config(..., true)) or rolled back with it.  No version has a hook
 * there: transaction callbacks run before the reversal (AtEOXact_GUC()).
 * TopTransactionContext is reset or deleted after it, by AtCommit_Memory()
 * in CommitTransaction() and PrepareTransaction() and by
 * AtCleanup_Memory() in CleanupTransaction(), and a reset callback runs
 * then.  Read in xact.c of 17, tested on 15 and 18 (test/t/037).  Were a
 * version to release the memory first, cb would see the values before the
 * reversal: quota.c would correct the charge at the next statement, as
 * before 1.3.  To be called at most once per transaction, from a
 * transaction callback at commit, prepare or abort.
 */
static inline void
lg_call_after_transaction(MemoryContextCallback *cb)
{
	MemoryContextRegisterResetCallback(TopTransactionContext, cb);
}

/*
 * The same for the subtransaction being aborted: its CurTransactionContext
 * is deleted by AtSubCleanup_Memory() in CleanupSubTransaction(), after
 * AbortSubTransaction() reverted its settings.  To be called at most once
 * per aborted subtransaction, from a subtransaction callback at
 * SUBXACT_EVENT_ABORT_SUB.
 */
static inline void
lg_call_after_subtransaction(MemoryContextCallback *cb)
{
	MemoryContextRegisterResetCallback(CurTransactionContext, cb);
}

#endif							/* LEAKGUARD_COMPAT_H */
