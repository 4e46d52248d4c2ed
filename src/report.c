/*-------------------------------------------------------------------------
 *
 * report.c
 *		Tell the terminated client why: rewrite its FATAL message.
 *
 * leakguard terminates a session with SIGTERM, which a backend reports as
 * "terminating connection due to administrator command" (57P01).  Since the
 * library is preloaded, it is in every backend, and its emit_log_hook sees
 * that report before it reaches the log and the client.  If the worker left
 * a mark for exactly this process (same pid, same start time) in its victim
 * slot, the report becomes what the built-in timeout would say, as the
 * kind of limit's row says (lg_kinds[]): for a session idle in
 * transaction, idle_in_transaction_session_timeout's SQLSTATE 25P03; for an
 * idle session, idle_session_timeout's 57P05; for a transaction open too
 * long, PostgreSQL 17's transaction_timeout's 25P04.  Drivers and pools
 * already handle them.  The detail names leakguard, the application, how
 * long the period lasted and the limit with its rule (and the xmin age, or
 * how many sessions it kept waiting).  Any other termination, such as
 * pg_terminate_backend() by a person or a server shutdown, finds no mark
 * and keeps its message.
 *
 * PostgreSQL calls emit_log_hook only for a message the server log takes:
 * with log_min_messages = panic in the victim, the hook never runs, the
 * client is told 57P01, and the mark stays in the slot.  Such a stale mark
 * (also left when the victim exits on its own before the signal) is
 * harmless: it names one process by pid and start time, which no later
 * backend of that slot shares, and the worker overwrites it when it marks
 * the slot's next victim.
 *
 * Shared state: this backend's LeakguardVictim slot, under its spinlock
 * (terminate.c); no LWLock is taken while an error is being reported.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "hooks.h"
#include "kinds.h"
#include "sessionlimits.h"
#include "shmem.h"
#include "terminate.h"

#include "utils/elog.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

static void
lg_emit_log_hook(ErrorData *edata)
{
	LeakguardVictim victim;

	if (MyBackendType == B_BACKEND &&
		((edata->elevel == FATAL &&
		  edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN &&
		  lg_victim_take(&victim, LG_ACT_TERMINATE)) ||
		 (edata->elevel == ERROR &&
		  edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		  lg_victim_take(&victim, LG_ACT_CANCEL))))
	{
		const LeakguardKindDef *kind = &lg_kinds[victim.kind];
		const char *what = (kind->action == LG_ACT_CANCEL) ?
			"cancelled this statement" : "terminated this session";
		char	   *limit = lg_format_duration_ms(victim.limit);

		edata->sqlerrcode = kind->sqlerrcode;
		edata->message = pstrdup(kind->message);
		if (kind->measure == LG_MEASURE_XID_AGE)
			edata->detail = psprintf("leakguard %s of application \"%s\" after %.3f s %s: its snapshot or transaction ID was " INT64_FORMAT " transactions old; its limit is " INT64_FORMAT " transactions (%s).",
									 what, victim.appname,
									 (double) victim.lasted_us / USECS_PER_SEC,
									 kind->during, victim.xmin_age,
									 victim.limit,
									 lg_kind_source(victim.kind, victim.rule));
		else if (kind->measure == LG_MEASURE_BLOCKED)
			edata->detail = psprintf("leakguard %s of application \"%s\" after %.3f s %s: it kept %d other session(s) waiting for its locks for %.3f s; its limit is %s (%s).",
									 what, victim.appname,
									 (double) victim.lasted_us / USECS_PER_SEC,
									 kind->during, victim.nblocked,
									 (double) victim.blocked_us / USECS_PER_SEC,
									 limit,
									 lg_kind_source(victim.kind, victim.rule));
		else
			edata->detail = psprintf("leakguard %s of application \"%s\" after %.3f s %s; its limit is %s (%s).",
									 what, victim.appname,
									 (double) victim.lasted_us / USECS_PER_SEC,
									 kind->during, limit,
									 lg_kind_source(victim.kind, victim.rule));
		edata->hint = NULL;
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
lg_install_log_hook(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = lg_emit_log_hook;
}
