/*-------------------------------------------------------------------------
 *
 * sqlfuncs.c
 *		SQL-callable functions: limit_for, status, check, reset, and the
 *		set-returning functions behind the sessions, stats, terminations
 *		and leak_sources views.
 *
 * Current facts (who is connected, who is idle in transaction) come from
 * the reader's own pgstat snapshot of the backend status array, the same one
 * pg_stat_activity uses, so both agree within a transaction.  Accumulated
 * facts come from shared memory, copied under the lock held shared and
 * formatted after it is released.  The rule, timeout and exemption of each
 * session are decided by limits.c, the code the worker uses.
 *
 * One library serves every version of the SQL interface: each function
 * fills the columns of 1.0, and those 1.1 and 1.2 appended when the result
 * type the caller's installed version declares has them (so a server whose
 * library is newer than its ALTER EXTENSION ... UPDATE keeps working).  1.2
 * appends to limit_for() the rule and limit of the transaction, xmin and
 * blocking limits; to stats() the counters of those kinds; to
 * terminations() blocked_pids and xmin_age; to sessions() xmin_age and
 * blocking; to status() prepared_transactions and oldest_prepared_at,
 * counted from pg_prepared_xact() (no gid: that is only in the server
 * log).  1.3 appends to status() policy, stats_evicted and
 * sources_evicted.  A result type with more columns than this library
 * knows (scripts installed and applied while the server still runs an
 * older library), or with a number of columns no version declares, is
 * refused with an error, never filled with garbage.
 *
 * Privileges follow pg_stat_activity: for a session of a role the reader is
 * neither a member of nor allowed to read through pg_read_all_stats, the
 * per-session rows show pid, database, user and application name only;
 * state, timestamps, idle times and client address are NULL and the last
 * statement reads "<insufficient privilege>", as in pg_stat_activity; so
 * are what leakguard derives from the session's transaction and locks:
 * xmin_age and blocking in sessions, xmin_age and blocked_pids in
 * terminations (the waits are hidden with wait_event; pg_stat_activity
 * shows backend_xmin to all, but the age leakguard judges goes with the
 * state it is judged in).
 * In stats, the present-tense columns that tell a session's state
 * (idle_in_transaction, longest_idle) count only the sessions the reader
 * may see the state of; connections counts every session, as the
 * connections view does, and the accumulated counters are visible to all,
 * as pg_stat_database's are.
 * leak_sources follows the same rule as terminations: counts for all, the
 * statement, its query id and the client address only for readers who may
 * see the role's sessions.
 * Role and database names are resolved in the views' SQL, by the reader.
 *
 * The history is copied in chunks of LG_HISTORY_CHUNK events, and the
 * statistics in chunks of LG_STATS_CHUNK entries, the lock released between
 * them, so that a reader of a long history or of many applications never
 * keeps the worker waiting for more than one chunk's copy.  Each row is
 * then as the worker left it at one moment, not all rows at the same one.
 * The history's two rings, the terminations' and the refused connections',
 * are shown as one, oldest first.
 *
 * Shared state: LeakguardShared, the statistics entries (through
 * LeakguardShared->apps), the history and the leak sources (sources.c),
 * under LeakguardShared->lock
 * (shared to read, exclusive for reset() and to post a check() request).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "blocking.h"
#include "citus.h"
#include "compat.h"
#include "kinds.h"
#include "leakguard.h"
#include "rules.h"
#include "scan.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "sources.h"
#include "sqlfuncs.h"
#include "stats.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/ip.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(lg_limit_for_sql);
PG_FUNCTION_INFO_V1(lg_status_sql);
PG_FUNCTION_INFO_V1(lg_check_sql);
PG_FUNCTION_INFO_V1(lg_reset_sql);
PG_FUNCTION_INFO_V1(lg_sessions_sql);
PG_FUNCTION_INFO_V1(lg_stats_sql);
PG_FUNCTION_INFO_V1(lg_terminations_sql);
PG_FUNCTION_INFO_V1(lg_leak_sources_sql);

/* Result columns in 1.0, in 1.1, in 1.2 and in 1.3 (where it has more) */
#define LG_SESSIONS_COLS_10		14
#define LG_SESSIONS_COLS_11		15
#define LG_SESSIONS_COLS_12		17
#define LG_SESSIONS_COLS		21
#define LG_STATS_COLS_10		18
#define LG_STATS_COLS_11		22
#define LG_STATS_COLS_12		28
#define LG_STATS_COLS			30
#define LG_TERMINATIONS_COLS_10	14
#define LG_TERMINATIONS_COLS_11	15
#define LG_TERMINATIONS_COLS	17
#define LG_LIMIT_FOR_COLS_10	2
#define LG_LIMIT_FOR_COLS_11	6
#define LG_LIMIT_FOR_COLS_12	12
#define LG_LIMIT_FOR_COLS		14
#define LG_STATUS_COLS_11		11	/* 1.0 and 1.1 */
#define LG_STATUS_COLS_12		13
#define LG_STATUS_COLS			16	/* 1.3 */
#define LG_LEAK_SOURCES_COLS	13

/* Events copied per acquisition of the lock by terminations(). */
#define LG_HISTORY_CHUNK		64
/* Statistics entries copied per acquisition of the lock by stats(). */
#define LG_STATS_CHUNK			64

/* Current counts of one application, in the reader. */
typedef struct LgAppNow
{
	char		name[NAMEDATALEN];	/* hash key */
	int32		connections;	/* every session */
	int32		idle;			/* sessions whose state the reader may see */
	int64		longest_us;		/* of those */
	bool		shown;
} LgAppNow;

Datum
lg_interval_us(int64 us)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = us;
	return IntervalPGetDatum(iv);
}

static bool
lg_can_see(Oid userid)
{
	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS) ||
		has_privs_of_role(GetUserId(), userid);
}

/* The client's IP address as inet; false for Unix sockets and unknowns. */
static bool
lg_client_addr(const SockAddr *addr, Datum *out)
{
	char		host[NI_MAXHOST];
	int			family = addr->addr.ss_family;

	if (addr->salen == 0 || (family != AF_INET && family != AF_INET6))
		return false;
	if (pg_getnameinfo_all(&addr->addr, addr->salen, host, sizeof(host),
						   NULL, 0, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return false;
	clean_ipv6_addr(family, host);
	*out = DirectFunctionCall1(inet_in, CStringGetDatum(host));
	return true;
}

/*
 * Refuse a result type with more columns than this library fills, or with
 * a number no version declares (w10, w11, w12: the widths of 1.0, 1.1 and
 * 1.2; a function new in 1.2 passes its one width thrice), whose columns
 * would not be of the types filled in.
 */
void
lg_check_result_columns(TupleDesc desc, int w10, int w11, int w12, int w13)
{
	if (desc->natts > w13)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the leakguard library is older than the extension's SQL definitions"),
				 errdetail("The function is declared with %d result columns; the library in use fills %d.",
						   desc->natts, w13),
				 errhint("Restart the server to load the installed library.")));
	if (desc->natts != w10 && desc->natts != w11 && desc->natts != w12 &&
		desc->natts != w13)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the leakguard library does not match the extension's SQL definitions"),
				 errdetail("The function is declared with %d result columns; the library fills %d, %d, %d or %d.",
						   desc->natts, w10, w11, w12, w13)));
}

static Datum
lg_timestamp_or_null(TimestampTz ts, bool *isnull)
{
	*isnull = (ts == 0);
	return TimestampTzGetDatum(ts);
}

Datum
lg_limit_for_sql(PG_FUNCTION_ARGS)
{
	char	   *given;
	char	   *appname;
	LeakguardLimit limit;
	LeakguardLimit idle;
	LeakguardLimit quota;
	LeakguardLimit transaction;
	LeakguardLimit xmin;
	LeakguardLimit blocking;
	LeakguardWho who;
	TupleDesc	tupdesc;
	Datum		values[LG_LIMIT_FOR_COLS];
	bool		nulls[LG_LIMIT_FOR_COLS];

	lg_require_shmem();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	lg_check_result_columns(tupdesc, LG_LIMIT_FOR_COLS_10, LG_LIMIT_FOR_COLS_11,
							LG_LIMIT_FOR_COLS_12, LG_LIMIT_FOR_COLS);

	/* 1.2 is not STRICT: its role and database may be NULL, not the name. */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	appname = palloc(LG_CLEAN_GROWTH * strlen(given) + 1);

	/*
	 * Look the name up as the server would store it: cleaned to printable
	 * ASCII, then cut to NAMEDATALEN - 1 bytes.
	 */
	if (lg_clean_name(appname, given, LG_NAME_STYLE) >= NAMEDATALEN)
		appname[NAMEDATALEN - 1] = '\0';

	/*
	 * 1.2 adds the login role and the database, each optional: a rule
	 * qualified by one applies only when it is given and matches.
	 */
	who.appname = appname;
	who.usename = (PG_NARGS() > 1 && !PG_ARGISNULL(1)) ?
		NameStr(*PG_GETARG_NAME(1)) : NULL;
	who.datname = (PG_NARGS() > 2 && !PG_ARGISNULL(2)) ?
		NameStr(*PG_GETARG_NAME(2)) : NULL;
	who.citus_internal = (lg_citus_kind(appname) != LG_CITUS_NONE);

	memset(nulls, 0, sizeof(nulls));
	lg_kind_limit_for(LG_KIND_IDLE_IN_XACT, &who, &limit);
	if (limit.rule_index < 0)
		nulls[0] = true;
	else
		values[0] = CStringGetTextDatum(limit.rule);
	values[1] = lg_interval_us(limit.value * 1000);

	if (tupdesc->natts >= LG_LIMIT_FOR_COLS_11)
	{
		lg_kind_limit_for(LG_KIND_IDLE, &who, &idle);
		lg_connection_limit_for(&who, &quota);
		if (idle.rule_index < 0)
			nulls[2] = true;
		else
			values[2] = CStringGetTextDatum(idle.rule);
		values[3] = lg_interval_us(idle.value * 1000);
		if (quota.rule_index < 0)
			nulls[4] = true;
		else
			values[4] = CStringGetTextDatum(quota.rule);
		values[5] = Int32GetDatum((int32) quota.value);
	}
	if (tupdesc->natts >= LG_LIMIT_FOR_COLS_12)
	{
		lg_kind_limit_for(LG_KIND_TRANSACTION, &who, &transaction);
		if (transaction.rule_index < 0)
			nulls[6] = true;
		else
			values[6] = CStringGetTextDatum(transaction.rule);
		values[7] = lg_interval_us(transaction.value * 1000);
		lg_kind_limit_for(LG_KIND_XMIN, &who, &xmin);
		if (xmin.rule_index < 0)
			nulls[8] = true;
		else
			values[8] = CStringGetTextDatum(xmin.rule);
		values[9] = Int64GetDatum(xmin.value);
		lg_kind_limit_for(LG_KIND_BLOCKING, &who, &blocking);
		if (blocking.rule_index < 0)
			nulls[10] = true;
		else
			values[10] = CStringGetTextDatum(blocking.rule);
		values[11] = lg_interval_us(blocking.value * 1000);
	}
	if (tupdesc->natts >= LG_LIMIT_FOR_COLS)
	{
		LeakguardLimit statement;

		lg_kind_limit_for(LG_KIND_STATEMENT, &who, &statement);
		if (statement.rule_index < 0)
			nulls[12] = true;
		else
			values[12] = CStringGetTextDatum(statement.rule);
		values[13] = lg_interval_us(statement.value * 1000);
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * How many transactions are prepared, and when the oldest was, from
 * pg_prepared_xact() (the function behind pg_prepared_xacts), called
 * directly: status() is readable by whom it was, whatever the privileges
 * on that view, and tells neither gid nor owner (prepared.c says why the
 * worker cannot count them itself).
 */
static void
lg_prepared_summary(int64 *count, TimestampTz *oldest)
{
	ExprContext *econtext = CreateStandaloneExprContext();
	LOCAL_FCINFO(fcinfo, 0);
	FmgrInfo	flinfo;
	ReturnSetInfo rsinfo;

	*count = 0;
	*oldest = 0;
	fmgr_info(F_PG_PREPARED_XACT, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL,
							 (Node *) &rsinfo);
	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.econtext = econtext;
	rsinfo.allowedModes = (int) SFRM_ValuePerCall;
	rsinfo.returnMode = SFRM_ValuePerCall;
	for (;;)
	{
		Datum		row;
		bool		isnull;
		TimestampTz prepared_at;

		fcinfo->isnull = false;
		rsinfo.isDone = ExprSingleResult;
		row = FunctionCallInvoke(fcinfo);
		if (rsinfo.isDone == ExprEndResult)
			break;
		prepared_at = DatumGetTimestampTz(GetAttributeByName(DatumGetHeapTupleHeader(row),
															 "prepared", &isnull));
		if (isnull)
			continue;
		(*count)++;
		if (*oldest == 0 || prepared_at < *oldest)
			*oldest = prepared_at;
	}
	FreeExprContext(econtext, true);
}

Datum
lg_status_sql(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[LG_STATUS_COLS];
	bool		nulls[LG_STATUS_COLS];
	int			pid;
	TimestampTz started_at;
	int			mode;
	uint64		scans;
	uint64		terminated;
	uint64		stats_evicted;
	TimestampTz last_scan_at;
	TimestampTz next_wakeup_at;
	double		scan_time_total_ms;
	double		scan_time_max_ms;
	bool		registered;
	bool		disabled;
	char	   *rules = palloc(LG_RULES_TEXT_LEN);
	char		error[LG_CONFIG_ERROR_LEN];
	uint64		sources_evicted;

	lg_require_shmem();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* 1.0 and 1.1 have the same columns: the widths of 1.1, 1.2 and 1.3 */
	lg_check_result_columns(tupdesc, LG_STATUS_COLS_11, LG_STATUS_COLS_11,
							LG_STATUS_COLS_12, LG_STATUS_COLS);

	lg_lock_reader();
	pid = lg_shared->worker_pid;
	started_at = lg_shared->worker_started_at;
	mode = lg_shared->worker_mode;
	scans = lg_shared->scans;
	terminated = lg_shared->terminated;
	stats_evicted = lg_shared->stats_evicted;
	last_scan_at = lg_shared->last_scan_at;
	next_wakeup_at = lg_shared->next_wakeup_at;
	scan_time_total_ms = lg_shared->scan_time_total_ms;
	scan_time_max_ms = lg_shared->scan_time_max_ms;
	registered = lg_shared->worker_registered;
	disabled = lg_shared->worker_disabled;
	strlcpy(rules, lg_shared->config_checked ? lg_shared->rules :
			(lg_kind_rules_text[LG_KIND_IDLE_IN_XACT] ?
			 lg_kind_rules_text[LG_KIND_IDLE_IN_XACT] : ""),
			LG_RULES_TEXT_LEN);
	strlcpy(error, disabled ? lg_shared->worker_error : lg_shared->config_error,
			sizeof(error));
	sources_evicted = lg_sources_evicted();
	LWLockRelease(lg_shared->lock);

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(pid);
	nulls[0] = (pid == 0);
	values[1] = lg_timestamp_or_null(pid ? started_at : 0, &nulls[1]);
	values[2] = CStringGetTextDatum(lg_mode_name(pid ? mode : lg_mode));
	values[3] = Int64GetDatum((int64) scans);
	values[4] = Int64GetDatum((int64) terminated);
	values[5] = lg_timestamp_or_null(last_scan_at, &nulls[5]);
	values[6] = lg_timestamp_or_null(next_wakeup_at, &nulls[6]);
	values[7] = Float8GetDatum(scans > 0 ? scan_time_total_ms / scans : 0.0);
	values[8] = Float8GetDatum(scan_time_max_ms);
	values[9] = CStringGetTextDatum(rules);
	if (!registered)
		values[10] = CStringGetTextDatum(psprintf("the leakguard worker could not be registered: max_worker_processes is exhausted; no session is terminated, and connection quotas apply the settings the server started with%s%s",
												  error[0] != '\0' ? ": " : "",
												  error));
	else if (disabled)
		values[10] = CStringGetTextDatum(psprintf("the leakguard worker stopped: %s", error));
	else if (error[0] != '\0')
		values[10] = CStringGetTextDatum(error);
	else
		nulls[10] = true;
	if (tupdesc->natts >= LG_STATUS_COLS_12)
	{
		int64		prepared;
		TimestampTz oldest;

		lg_prepared_summary(&prepared, &oldest);
		values[11] = Int64GetDatum(prepared);
		values[12] = lg_timestamp_or_null(oldest, &nulls[12]);
	}
	if (tupdesc->natts >= LG_STATUS_COLS)
	{
		values[13] = CStringGetTextDatum(lg_policy_text());
		values[14] = Int64GetDatum((int64) stats_evicted);
		values[15] = Int64GetDatum((int64) sources_evicted);
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static void
lg_no_worker_error(bool registered)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the leakguard worker is not running"),
			 registered ?
			 errdetail("It starts once the server reaches a consistent state and restarts within %d s of a failure.",
					   LG_RESTART_SECONDS) :
			 errdetail("It could not be registered because max_worker_processes is exhausted."),
			 registered ? 0 :
			 errhint("Raise max_worker_processes and restart the server.")));
}

Datum
lg_check_sql(PG_FUNCTION_ARGS)
{
	uint64		ticket;
	Latch	   *latch;
	int64		result = 0;
	int			mode = LG_MODE_OFF;

	lg_require_shmem();

	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	if (lg_shared->worker_pid == 0)
	{
		bool		registered = lg_shared->worker_registered;

		LWLockRelease(lg_shared->lock);
		lg_no_worker_error(registered);
	}
	ticket = pg_atomic_add_fetch_u64(&lg_shared->check_requested, 1);
	latch = lg_shared->worker_latch;
	LWLockRelease(lg_shared->lock);
	SetLatch(latch);

	ConditionVariablePrepareToSleep(&lg_shared->check_cv);
	for (;;)
	{
		bool		done;
		int			pid;

		lg_lock_reader();
		done = lg_shared->check_completed >= ticket;
		result = lg_shared->check_result;
		pid = lg_shared->worker_pid;
		mode = lg_shared->worker_mode;
		LWLockRelease(lg_shared->lock);

		if (done)
			break;
		if (pid == 0)
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the leakguard worker exited before it finished the requested scan")));
		}
		(void) ConditionVariableTimedSleep(&lg_shared->check_cv, 1000,
										   PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	if (mode == LG_MODE_OFF)
		ereport(NOTICE,
				(errmsg("leakguard.mode is off: the worker did not scan")));
	PG_RETURN_INT64(result);
}

Datum
lg_reset_sql(PG_FUNCTION_ARGS)
{
	lg_require_shmem();
	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	lg_stats_reset(GetCurrentTimestamp());
	lg_sources_reset();
	LWLockRelease(lg_shared->lock);
	PG_RETURN_VOID();
}

static int
lg_cmp_int_pid(const void *a, const void *b)
{
	int			pa = *(const int *) a;
	int			pb = *(const int *) b;

	return (pa > pb) - (pa < pb);
}

/* How many times pid occurs in the sorted array values[0..n). */
static int32
lg_count_sorted(const int *values, int n, int pid)
{
	int			lo = 0;
	int			hi = n;
	int32		count = 0;

	/* the first element not below pid */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (values[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < n && values[lo] == pid)
	{
		count++;
		lo++;
	}
	return count;
}

/*
 * The earliest deadline of the kinds of limit that apply to a session in
 * its present state (1.3: sessions.next_*): its kind (-1: none has a
 * deadline now), the limit in *next and the time in *at; *any_limit says
 * whether some kind applies with a limit, deadline or not (a session over
 * no xmin age yet, or blocking nobody, has none).  The xmin age is judged
 * as the worker judges it (lg_xid_judged_age(): its snapshot counts only
 * when older than every other running transaction), the horizon read once
 * per call (*horizon_read); blocks are the lock waits of the moment.
 */
static int
lg_session_next(const LocalPgBackendStatus *local, const LeakguardWho *who,
				bool *horizon_read, const LeakguardBlock *blocks, int nblocks,
				TimestampTz now, LeakguardLimit *next, TimestampTz *at,
				bool *any_limit)
{
	const PgBackendStatus *be = &local->backendStatus;

	int			next_kind = -1;

	*any_limit = false;
	*at = 0;
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LeakguardKindDef *kind = &lg_kinds[k];
		LeakguardLimit limit;
		TimestampTz due = 0;
		TimestampTz since;

		if (!kind->session ||
			!kind->applies(be->st_state, be->st_xact_start_timestamp))
			continue;
		lg_kind_limit_for(k, who, &limit);
		if (limit.value <= 0)
			continue;
		*any_limit = true;
		since = lg_kind_period_since(k, be->st_state_start_timestamp,
									 be->st_xact_start_timestamp,
									 be->st_activity_start_timestamp);
		switch (kind->measure)
		{
			case LG_MEASURE_TIME:
				due = since + limit.value * INT64CONST(1000);
				break;
			case LG_MEASURE_XID_AGE:
				if (!*horizon_read)
				{
					lg_xid_horizon_read();
					*horizon_read = true;
				}
				if (lg_xid_judged_age(local->backend_xid, local->backend_xmin) >
					limit.value)
					due = now;
				break;
			case LG_MEASURE_BLOCKED:
				/* from the earliest wait for its locks that began in it */
				for (int b = 0; b < nblocks; b++)
					if (blocks[b].blocker_pid == be->st_procpid)
					{
						TimestampTz from = Max(blocks[b].wait_start, since);
						TimestampTz d = from + limit.value * INT64CONST(1000);

						if (due == 0 || d < due)
							due = d;
					}
				break;
			case LG_MEASURE_CONNECTIONS:
				break;
		}
		if (due != 0 && (next_kind < 0 || due < *at))
		{
			next_kind = k;
			*at = due;
			*next = limit;
		}
	}
	return next_kind;
}

Datum
lg_sessions_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	bool		qualified = lg_rules_qualified();
	bool		v11;
	bool		v12;
	bool		v13;
	bool		horizon_read = false;
	TransactionId next_xid = InvalidTransactionId;
	LeakguardBlock *blocks = NULL;
	int			nblocks = 0;
	int		   *blockers = NULL;
	int			n;
	int			i;

	lg_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_SESSIONS_COLS_10,
							LG_SESSIONS_COLS_11, LG_SESSIONS_COLS_12,
							LG_SESSIONS_COLS);
	v11 = rsinfo->setDesc->natts >= LG_SESSIONS_COLS_11;
	v12 = rsinfo->setDesc->natts >= LG_SESSIONS_COLS_12;
	v13 = rsinfo->setDesc->natts >= LG_SESSIONS_COLS;
	if (v12)
	{
		TimestampTz next_check;

		/* who waits for whose locks now: the lock manager only if some wait */
		next_xid = XidFromFullTransactionId(ReadNextFullTransactionId());
		nblocks = lg_blocks_find(now, 0, false, &blocks, &next_check);

		/* the blockers' pids, sorted: a session's count is its run's length */
		blockers = palloc(mul_size(Max(nblocks, 1), sizeof(int)));
		for (int b = 0; b < nblocks; b++)
			blockers[b] = blocks[b].blocker_pid;
		qsort(blockers, nblocks, sizeof(int), lg_cmp_int_pid);
	}

	n = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = lg_local_beentry(i);
		PgBackendStatus *be;
		Datum		values[LG_SESSIONS_COLS];
		bool		nulls[LG_SESSIONS_COLS];
		LeakguardLimit limit;
		LeakguardExempt exempt;
		LeakguardWho who;
		const char *state;
		bool		idle;
		bool		idle_session;
		bool		visible;
		int64		xid_age = -1;
		int			next_kind = -1;
		LeakguardLimit next_limit;
		TimestampTz next_at = 0;
		bool		any_limit = false;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_backendType != B_BACKEND || be->st_procpid <= 0)
			continue;

		memset(nulls, 0, sizeof(nulls));

		/*
		 * The limit of the session's current state: the idle-session rules
		 * for an idle session (1.1), the transaction rules otherwise.
		 */
		idle = lg_state_idle_in_xact(be->st_state);
		visible = lg_can_see(be->st_userid);
		idle_session = v11 && be->st_state == STATE_IDLE &&
			visible;			/* else the rule would tell the state */
		who.appname = be->st_appname;
		who.usename = qualified ? GetUserNameFromId(be->st_userid, true) : NULL;
		who.datname = qualified ? get_database_name(be->st_databaseid) : NULL;
		who.citus_internal = (lg_citus_kind(be->st_appname) != LG_CITUS_NONE);
		lg_kind_limit_for(idle_session ? LG_KIND_IDLE : LG_KIND_IDLE_IN_XACT, &who,
						  &limit);
		if (v12)
		{
			TransactionId oldest = local->backend_xmin;

			if (!TransactionIdIsNormal(oldest) ||
				(TransactionIdIsNormal(local->backend_xid) &&
				 TransactionIdPrecedes(local->backend_xid, oldest)))
				oldest = local->backend_xid;
			if (TransactionIdIsNormal(oldest) && TransactionIdIsNormal(next_xid))
				xid_age = (int64) (uint32) (next_xid - oldest);
		}

		/*
		 * 1.3: every kind that applies in its state decides whether it is
		 * exempt; 1.0 to 1.2, and a reader who may not see its state, see
		 * the idle limit's alone, as 1.2 showed it.
		 */
		if (v13 && visible)
			next_kind = lg_session_next(local, &who, &horizon_read, blocks,
										nblocks, now, &next_limit, &next_at,
										&any_limit);
		any_limit = any_limit || limit.value > 0;
		if (!any_limit)
			exempt = limit.rule_index < 0 ? LG_EXEMPT_NO_LIMIT : LG_EXEMPT_RULE;
		else
			exempt = lg_role_exemption(be->st_userid);

		values[0] = Int32GetDatum(be->st_procpid);
		values[1] = ObjectIdGetDatum(be->st_databaseid);
		values[2] = ObjectIdGetDatum(be->st_userid);
		values[3] = CStringGetTextDatum(be->st_appname);
		if (!lg_client_addr(&be->st_clientaddr, &values[4]))
			nulls[4] = true;
		values[5] = lg_timestamp_or_null(be->st_proc_start_timestamp, &nulls[5]);
		values[6] = lg_timestamp_or_null(be->st_xact_start_timestamp, &nulls[6]);
		state = lg_backend_state_name(be->st_state);
		if (state != NULL)
			values[7] = CStringGetTextDatum(state);
		else
			nulls[7] = true;
		values[8] = lg_timestamp_or_null(be->st_state_start_timestamp, &nulls[8]);
		if (idle)
			values[9] = lg_interval_us(now - be->st_state_start_timestamp);
		else
			nulls[9] = true;
		if (limit.rule_index >= 0)
			values[10] = CStringGetTextDatum(limit.rule);
		else
			nulls[10] = true;
		values[11] = lg_interval_us(limit.value * 1000);
		if ((idle || idle_session) && exempt == LG_EXEMPT_NONE &&
			limit.value > 0)
			values[12] = TimestampTzGetDatum(be->st_state_start_timestamp +
											 limit.value * INT64CONST(1000));
		else
			nulls[12] = true;
		if (exempt != LG_EXEMPT_NONE)
			values[13] = CStringGetTextDatum(lg_exempt_name(exempt));
		else
			nulls[13] = true;
		if (v11 && idle_session)
			values[14] = lg_interval_us(now - be->st_state_start_timestamp);
		else if (v11)
			nulls[14] = true;
		if (v12)
		{
			if (xid_age >= 0)
				values[15] = Int64GetDatum(xid_age);
			else
				nulls[15] = true;
			values[16] = Int32GetDatum(lg_count_sorted(blockers, nblocks,
													   be->st_procpid));
		}
		if (v13)
		{
			if (next_kind >= 0)
			{
				values[17] = CStringGetTextDatum(lg_kinds[next_kind].name);
				if (next_limit.rule_index >= 0)
					values[18] = CStringGetTextDatum(next_limit.rule);
				else
					nulls[18] = true;
				values[19] = CStringGetTextDatum(lg_kind_limit_text(next_kind,
															   next_limit.value));
				values[20] = TimestampTzGetDatum(next_at);
				if (exempt != LG_EXEMPT_NONE)
					nulls[20] = true;
			}
			else
				nulls[17] = nulls[18] = nulls[19] = nulls[20] = true;
		}

		/* What pg_stat_activity would hide from this reader. */
		if (!visible)
		{
			nulls[4] = nulls[5] = nulls[6] = nulls[7] = true;
			nulls[8] = nulls[9] = nulls[12] = true;
			if (v11)
				nulls[14] = true;
			if (v12)
				nulls[15] = nulls[16] = true;
			if (v13)
				nulls[17] = nulls[18] = nulls[19] = nulls[20] = true;
		}

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Count the current connections per application (per statistics row: Citus
 * internal connections by kind and node) from the reader's snapshot; idle
 * in transaction only where the reader may see the session's state.
 */
static HTAB *
lg_apps_now(TimestampTz now)
{
	HASHCTL		info;
	HTAB	   *apps;
	int			n;
	int			i;

	memset(&info, 0, sizeof(info));
	info.keysize = NAMEDATALEN;
	info.entrysize = sizeof(LgAppNow);
	info.hcxt = CurrentMemoryContext;
	apps = hash_create("leakguard apps now", 64, &info,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	n = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = lg_local_beentry(i);
		PgBackendStatus *be;
		char		key[NAMEDATALEN];
		char		name[NAMEDATALEN];
		LgAppNow   *app;
		bool		found;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_backendType != B_BACKEND || be->st_procpid <= 0)
			continue;

		/* counted under its statistics row's name (citus.c) */
		memset(key, 0, sizeof(key));
		strlcpy(key, lg_citus_stats_name(be->st_appname, name), sizeof(key));
		app = hash_search(apps, key, HASH_ENTER, &found);
		if (!found)
		{
			app->connections = app->idle = 0;
			app->longest_us = 0;
			app->shown = false;
		}
		app->connections++;
		if (lg_state_idle_in_xact(be->st_state) && lg_can_see(be->st_userid))
		{
			app->idle++;
			app->longest_us = Max(app->longest_us,
								  now - be->st_state_start_timestamp);
		}
	}
	return apps;
}

static void
lg_put_stats_row(ReturnSetInfo *rsinfo, const LeakguardAppStats *st,
				 const LgAppNow *cur, TimestampTz stats_reset)
{
	Datum		values[LG_STATS_COLS];
	bool		nulls[LG_STATS_COLS];
	int			i;
	int32		connections = cur ? cur->connections : 0;

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(st->name);
	values[1] = Int32GetDatum(connections);
	values[2] = Int32GetDatum(cur ? cur->idle : 0);
	if (cur && cur->idle > 0)
		values[3] = lg_interval_us(cur->longest_us);
	else
		nulls[3] = true;
	values[4] = Int64GetDatum(Max(st->peak_connections, connections));
	values[5] = Int64GetDatum(st->episodes);
	values[6] = Int64GetDatum(st->kinds[LG_KIND_IDLE_IN_XACT].acted);
	values[7] = Int64GetDatum(st->kinds[LG_KIND_IDLE_IN_XACT].dry_run);
	values[8] = lg_interval_us(st->total_idle_us);
	values[9] = lg_interval_us(st->max_idle_us);
	for (i = 0; i < LG_NUM_BUCKETS; i++)
		values[10 + i] = Int64GetDatum(st->buckets[i]);
	values[15] = lg_timestamp_or_null(st->last_terminated_at, &nulls[15]);
	values[16] = lg_timestamp_or_null(st->first_seen, &nulls[16]);
	values[17] = lg_timestamp_or_null(stats_reset, &nulls[17]);
	values[18] = Int64GetDatum(st->kinds[LG_KIND_IDLE].acted);
	values[19] = Int64GetDatum(st->kinds[LG_KIND_IDLE].dry_run);
	values[20] = Int64GetDatum(st->kinds[LG_KIND_CONNECTIONS].acted);
	values[21] = Int64GetDatum(st->kinds[LG_KIND_CONNECTIONS].dry_run);
	values[22] = Int64GetDatum(st->kinds[LG_KIND_TRANSACTION].acted);
	values[23] = Int64GetDatum(st->kinds[LG_KIND_TRANSACTION].dry_run);
	values[24] = Int64GetDatum(st->kinds[LG_KIND_BLOCKING].acted);
	values[25] = Int64GetDatum(st->kinds[LG_KIND_BLOCKING].dry_run);
	values[26] = Int64GetDatum(st->kinds[LG_KIND_XMIN].acted);
	values[27] = Int64GetDatum(st->kinds[LG_KIND_XMIN].dry_run);
	/* 1.3: every kind's, terminations, cancellations and refusals alike */
	values[28] = Int64GetDatum(0);
	values[29] = Int64GetDatum(0);
	for (i = 0; i < LG_NUM_KINDS; i++)
	{
		values[28] = Int64GetDatum(DatumGetInt64(values[28]) + st->kinds[i].acted);
		values[29] = Int64GetDatum(DatumGetInt64(values[29]) + st->kinds[i].dry_run);
	}
	/* 1.0 to 1.2 declare only the first LG_STATS_COLS_10, _11 or _12 columns */
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Copy the statistics entries into entries (room for max_applications), in
 * chunks of LG_STATS_CHUNK under the lock, and with the last chunk the
 * overflow entry and stats_reset.  While stats_generation stays the same,
 * entries are only appended to lg_shared->apps, so what was copied stays in
 * place; if reset() runs meanwhile, or an entry makes room for another
 * (its counts move to the overflow row), the copy starts over, in one hold
 * of the lock this time, so that a table that changes all the time cannot
 * keep a reader copying.  Returns the number of entries.
 */
long
lg_stats_copy(LeakguardAppStats *entries, LeakguardAppStats *overflow,
			  TimestampTz *stats_reset)
{
	uint64		generation = 0;
	long		n = -1;			/* -1: nothing copied yet */
	bool		whole = false;

	for (;;)
	{
		long		upto;
		bool		done;

		lg_lock_reader();
		if (n < 0 || lg_shared->stats_generation != generation)
		{
			whole = (n >= 0);
			generation = lg_shared->stats_generation;
			n = 0;
		}
		upto = whole ? lg_shared->app_count :
			Min(lg_shared->app_count, n + LG_STATS_CHUNK);
		for (; n < upto; n++)
			memcpy(&entries[n], lg_shared->apps[n], sizeof(LeakguardAppStats));
		done = (n >= lg_shared->app_count);
		if (done)
		{
			memcpy(overflow, &lg_shared->overflow, sizeof(LeakguardAppStats));
			*stats_reset = lg_shared->stats_reset;
		}
		LWLockRelease(lg_shared->lock);
		if (done)
			return n;
		CHECK_FOR_INTERRUPTS();
	}
}

Datum
lg_stats_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	LeakguardAppStats *entries;
	LeakguardAppStats overflow;
	LgAppNow	overflow_now;
	TimestampTz stats_reset;
	HASH_SEQ_STATUS seq;
	LgAppNow   *cur;
	HTAB	   *apps;
	long		nentries;
	long		room;
	long		i;

	lg_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_STATS_COLS_10, LG_STATS_COLS_11,
							LG_STATS_COLS_12, LG_STATS_COLS);
	apps = lg_apps_now(now);

	/* The hash never holds more than max_applications entries. */
	entries = palloc(sizeof(LeakguardAppStats) * lg_max_applications);
	nentries = lg_stats_copy(entries, &overflow, &stats_reset);

	for (i = 0; i < nentries; i++)
	{
		cur = hash_search(apps, entries[i].name, HASH_FIND, NULL);
		if (cur != NULL)
			cur->shown = true;
		lg_put_stats_row(rsinfo, &entries[i], cur, stats_reset);
	}

	/*
	 * Applications the worker has not seen yet get a row of their own while
	 * there is room, as the worker will give them; the rest count with the
	 * overflow row.
	 */
	memset(&overflow_now, 0, sizeof(overflow_now));
	room = lg_max_applications - nentries;
	hash_seq_init(&seq, apps);
	while ((cur = hash_seq_search(&seq)) != NULL)
	{
		if (cur->shown)
			continue;
		if (room > 0)
		{
			LeakguardAppStats empty;

			memset(&empty, 0, sizeof(empty));
			strlcpy(empty.name, cur->name, NAMEDATALEN);
			lg_put_stats_row(rsinfo, &empty, cur, stats_reset);
			room--;
			continue;
		}
		overflow_now.connections += cur->connections;
		overflow_now.idle += cur->idle;
		overflow_now.longest_us = Max(overflow_now.longest_us, cur->longest_us);
	}
	if (overflow.first_seen != 0 || overflow_now.connections > 0)
		lg_put_stats_row(rsinfo, &overflow, &overflow_now, stats_reset);

	return (Datum) 0;
}

/*
 * Copy the events from number *next on (oldest first) of one history ring,
 * the terminations' (into an array of LeakguardEvent) or the refusals' (of
 * LeakguardRefusal), into out, at most LG_HISTORY_CHUNK, under the lock;
 * skip what was overwritten meanwhile.  Returns how many were copied; 0
 * when there are no more, or when reset() ran (the generation changed).
 */
static int
lg_history_chunk(bool refusals, uint64 *next, uint64 upto, uint64 generation,
				 void *out)
{
	Size		size = refusals ? sizeof(LeakguardRefusal) :
		sizeof(LeakguardEvent);
	int			n = 0;

	lg_lock_reader();
	if (lg_shared->reset_generation == generation)
	{
		const char *ring = refusals ? (const char *) lg_shared->refusals :
			(const char *) lg_shared->history;
		uint64		count = refusals ? lg_shared->refusal_count :
			lg_shared->history_count;
		uint64		oldest = count - Min(count, (uint64) lg_history_size);

		if (*next < oldest)
			*next = oldest;
		for (; *next < upto && n < LG_HISTORY_CHUNK; (*next)++, n++)
			memcpy((char *) out + n * size,
				   ring + (*next % (uint64) lg_history_size) * size, size);
	}
	LWLockRelease(lg_shared->lock);
	return n;
}

/*
 * A stored statement as pg_stat_activity shows it to the reader: the text,
 * or "<insufficient privilege>" when the reader may not see the session.
 */
static Datum
lg_statement_datum(const char *query, bool visible)
{
	int			len;

	if (!visible)
		return CStringGetTextDatum("<insufficient privilege>");
	len = strlen(query);
	/* The stored text may end inside a multibyte character. */
	len = pg_mbcliplen(query, len, len);
	return PointerGetDatum(cstring_to_text_with_len(query, len));
}

static void
lg_put_event(ReturnSetInfo *rsinfo, const LeakguardEvent *ev)
{
	Datum		values[LG_TERMINATIONS_COLS];
	bool		nulls[LG_TERMINATIONS_COLS];
	bool		visible = lg_can_see(ev->userid);

	memset(nulls, 0, sizeof(nulls));
	values[0] = TimestampTzGetDatum(ev->at);
	values[1] = Int32GetDatum(ev->pid);
	values[2] = ObjectIdGetDatum(ev->datid);
	values[3] = ObjectIdGetDatum(ev->userid);
	values[4] = CStringGetTextDatum(ev->appname);
	if (!lg_client_addr(&ev->client_addr, &values[5]))
		nulls[5] = true;
	values[6] = lg_timestamp_or_null(ev->backend_start, &nulls[6]);
	values[7] = lg_timestamp_or_null(ev->xact_start, &nulls[7]);
	values[8] = lg_timestamp_or_null(ev->state_change, &nulls[8]);
	values[9] = lg_interval_us(ev->lasted_us);
	if (lg_kinds[ev->kind].measure != LG_MEASURE_XID_AGE &&
		lg_kinds[ev->kind].measure != LG_MEASURE_CONNECTIONS)
		values[10] = lg_interval_us(ev->limit * 1000);
	else
		nulls[10] = true;		/* a number of transactions */
	if (ev->rule[0] != '\0')
		values[11] = CStringGetTextDatum(ev->rule);
	else
		nulls[11] = true;
	values[12] = CStringGetTextDatum(lg_action_name(ev->action));
	values[14] = CStringGetTextDatum(lg_kind_name(ev->kind));
	if (lg_kinds[ev->kind].measure == LG_MEASURE_BLOCKED)
	{
		Datum		pids[LG_BLOCKED_PIDS];
		int			npids = Min(ev->nblocked, LG_BLOCKED_PIDS);

		for (int i = 0; i < npids; i++)
			pids[i] = Int32GetDatum(ev->blocked_pids[i]);
		values[15] = PointerGetDatum(construct_array(pids, npids, INT4OID,
													 sizeof(int32), true,
													 TYPALIGN_INT));
	}
	else
		nulls[15] = true;
	if (lg_kinds[ev->kind].measure == LG_MEASURE_XID_AGE)
		values[16] = Int64GetDatum(ev->xmin_age);
	else
		nulls[16] = true;
	if (lg_kinds[ev->kind].measure == LG_MEASURE_CONNECTIONS)
	{
		/* a refused connection had no idle time, limit or statement */
		nulls[9] = nulls[10] = nulls[13] = true;
	}
	else
		values[13] = lg_statement_datum(ev->query, visible);

	/*
	 * What pg_stat_activity would hide from this reader, with the waits the
	 * session caused and its snapshot's age.
	 */
	if (!visible)
		nulls[5] = nulls[6] = nulls[7] = nulls[8] = nulls[9] =
			nulls[15] = nulls[16] = true;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* Put the refusals up to time "until" (all: DT_NOEND), oldest first. */
static void
lg_put_refusals(ReturnSetInfo *rsinfo, const LeakguardRefusal *refusals,
				int count, int *next, TimestampTz until)
{
	LeakguardEvent ev;

	for (; *next < count && refusals[*next].at <= until; (*next)++)
	{
		lg_refusal_event(&refusals[*next], &ev);
		lg_put_event(rsinfo, &ev);
	}
}

Datum
lg_terminations_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LeakguardEvent *chunk;
	LeakguardRefusal *refusals;
	uint64		next;
	uint64		upto;
	uint64		refusal_next;
	uint64		refusal_upto;
	uint64		generation;
	int			nrefusals = 0;
	int			put = 0;
	int			n;
	int			i;

	lg_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_TERMINATIONS_COLS_10,
							LG_TERMINATIONS_COLS_11, LG_TERMINATIONS_COLS,
							LG_TERMINATIONS_COLS);

	/* The events that exist now, oldest first; later ones are not shown. */
	lg_lock_reader();
	upto = lg_shared->history_count;
	next = upto - Min(upto, (uint64) lg_history_size);
	refusal_upto = lg_shared->refusal_count;
	refusal_next = refusal_upto - Min(refusal_upto, (uint64) lg_history_size);
	generation = lg_shared->reset_generation;
	LWLockRelease(lg_shared->lock);

	/* The refusals first, to be merged by time into the terminations. */
	refusals = palloc(sizeof(LeakguardRefusal) * (refusal_upto - refusal_next));
	while ((n = lg_history_chunk(true, &refusal_next, refusal_upto, generation,
								 &refusals[nrefusals])) > 0)
	{
		nrefusals += n;
		CHECK_FOR_INTERRUPTS();
	}

	chunk = palloc(sizeof(LeakguardEvent) * LG_HISTORY_CHUNK);
	while ((n = lg_history_chunk(false, &next, upto, generation, chunk)) > 0)
	{
		for (i = 0; i < n; i++)
		{
			lg_put_refusals(rsinfo, refusals, nrefusals, &put, chunk[i].at);
			lg_put_event(rsinfo, &chunk[i]);
		}
		CHECK_FOR_INTERRUPTS();
	}
	lg_put_refusals(rsinfo, refusals, nrefusals, &put, DT_NOEND);
	return (Datum) 0;
}

static void
lg_put_source(ReturnSetInfo *rsinfo, const LeakguardSourceData *src)
{
	Datum		values[LG_LEAK_SOURCES_COLS];
	bool		nulls[LG_LEAK_SOURCES_COLS];
	bool		visible = lg_can_see(src->key.userid);

	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum(src->key.appname);
	values[1] = ObjectIdGetDatum(src->key.userid);
	values[2] = ObjectIdGetDatum(src->key.datid);
	values[3] = CStringGetTextDatum(lg_kind_name(src->key.kind));
	/* hidden as pg_stat_activity hides it; a fingerprint is no query id */
	values[4] = Int64GetDatum(src->key.id);
	nulls[4] = !visible || src->key.by_text;
	values[5] = lg_statement_datum(src->query, visible);
	if (!visible || !lg_client_addr(&src->client_addr, &values[6]))
		nulls[6] = true;
	values[7] = Int64GetDatum(src->leaks);
	values[8] = Int64GetDatum(src->dry_run);
	values[9] = lg_interval_us(src->total_held_us);
	values[10] = lg_interval_us(src->max_held_us);
	values[11] = TimestampTzGetDatum(src->first_seen);
	values[12] = TimestampTzGetDatum(src->last_seen);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
lg_leak_sources_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LeakguardSourceData *chunk;
	int			next = 0;

	lg_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_LEAK_SOURCES_COLS,
							LG_LEAK_SOURCES_COLS, LG_LEAK_SOURCES_COLS,
							LG_LEAK_SOURCES_COLS);

	chunk = palloc(sizeof(LeakguardSourceData) * LG_SOURCES_CHUNK);
	while (next < lg_max_sources)
	{
		int			n = lg_sources_copy(&next, chunk);

		for (int i = 0; i < n; i++)
			lg_put_source(rsinfo, &chunk[i]);
		CHECK_FOR_INTERRUPTS();
	}
	return (Datum) 0;
}
