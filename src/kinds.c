/*-------------------------------------------------------------------------
 *
 * kinds.c
 *		The kinds of limit leakguard knows, one row each.
 *
 * Every limit on sessions has the same life cycle: a session enters a
 * period of that kind (it becomes idle in transaction, goes idle, opens a
 * transaction), the period has a start (its state_change or its
 * xact_start), the session's rules give it a limit, and the worker ends the
 * session when the period's measure passes the limit (LG_MEASURE_TIME: at
 * start + limit; LG_MEASURE_XID_AGE: when a scan finds its xmin or xid
 * older than the limit in transactions; LG_MEASURE_BLOCKED: when a scan
 * finds another session waiting for its locks that long) if it is still
 * in the same period then, tells the client why with the kind's SQLSTATE
 * and message, and counts it in the kind's counters.  lg_kinds[] holds what differs between kinds, and
 * the scan (worker.c), the final re-check (terminate.c), the statistics and
 * history (worker.c, sqlfuncs.c), the client's message (report.c) and
 * limit_for() read it rather than naming kinds.
 *
 * Adding a kind of limit on sessions: a LeakguardKind value at the end of
 * the enum; its two settings (settings.c, registered in lg_settings[]);
 * its counters at the end of LeakguardAppStats; its row here; and its
 * columns in the SQL scripts (limit_for(), stats) with the matching
 * LG_*_COLS in sqlfuncs.c.  A kind measured in time from the start of a
 * period (LG_MEASURE_TIME) needs nothing else: the scan, scheduling,
 * re-check, exemptions, dry_run, marks, statistics, history, log line and
 * the client's message follow from the row; set in_block only if its
 * periods cannot begin outside a transaction block, for the worker stops
 * polling for such kinds while no session is in one (worker.c).  A kind
 * with a measure of its
 * own, as the xmin age and blocking have, also needs the reading of that
 * measure in the worker's scan (lg_xid_age_due(), lg_blocking_due()), its
 * re-check in terminate.c if the period alone does not prove it, and its
 * wording in the log line and the client's detail.
 *
 * Shared state: none.  The rows point at the variables of the policy in
 * force (settings.c), read by the process that reads the row.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "utils/elog.h"

static bool
lg_applies_idle_in_xact(BackendState state, TimestampTz xact_start)
{
	return lg_state_idle_in_xact(state);
}

static bool
lg_applies_idle(BackendState state, TimestampTz xact_start)
{
	return state == STATE_IDLE;
}

/*
 * In a transaction, active or not.  A backend with track_activities off
 * reports neither its state nor its transaction start: it is never judged.
 */
static bool
lg_applies_in_xact(BackendState state, TimestampTz xact_start)
{
	return xact_start != 0 && state != STATE_IDLE &&
		state != STATE_DISABLED && state != STATE_UNDEFINED;
}

static bool
lg_applies_never(BackendState state, TimestampTz xact_start)
{
	return false;
}

const LeakguardKindDef lg_kinds[LG_NUM_KINDS] = {
	[LG_KIND_IDLE_IN_XACT] = {
		.name = "idle in transaction",
		.action = LG_ACT_TERMINATE,
		.measure = LG_MEASURE_TIME,
		.since = "state_change",
		.session = true,
		.applies = lg_applies_idle_in_xact,
		.period_start = LG_START_STATE_CHANGE,
		.in_transaction = true,
		.in_block = true,
		.during = "idle in transaction",
		.default_guc = "leakguard.idle_in_transaction_timeout",
		.default_limit = &lg_default_timeout_ms,
		.rules_guc = "leakguard.application_timeouts",
		.rules_text = &lg_application_timeouts,
		.rules = &lg_rules,
		.observed = LG_OBSERVED_XACT_IDLE,
		.suggest_floor_ms = 1000,
		.sqlerrcode = ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
		.message = "terminating connection due to idle-in-transaction timeout",
	},
	[LG_KIND_IDLE] = {
		.name = "idle",
		.action = LG_ACT_TERMINATE,
		.measure = LG_MEASURE_TIME,
		.since = "state_change",
		.session = true,
		.applies = lg_applies_idle,
		.period_start = LG_START_STATE_CHANGE,
		.in_transaction = false,
		.during = "idle",
		.default_guc = "leakguard.idle_session_timeout",
		.default_limit = &lg_idle_timeout_ms,
		.rules_guc = "leakguard.application_idle_timeouts",
		.rules_text = &lg_application_idle_timeouts,
		.rules = &lg_idle_rules,
		.observed = LG_OBSERVED_IDLE,
		.suggest_floor_ms = 60 * 1000,
		.sqlerrcode = ERRCODE_IDLE_SESSION_TIMEOUT,
		.message = "terminating connection due to idle-session timeout",
	},
	[LG_KIND_CONNECTIONS] = {
		.name = "connections",
		.action = LG_ACT_REFUSE,
		.measure = LG_MEASURE_CONNECTIONS,
		.since = "login",
		.session = false,
		.applies = lg_applies_never,
		.during = "",
		.default_guc = NULL,
		.default_limit = NULL,
		.rules_guc = "leakguard.application_connection_limits",
		.rules_text = &lg_application_connection_limits,
		.rules = &lg_connection_rules,
		.observed = -1,
		.sqlerrcode = ERRCODE_TOO_MANY_CONNECTIONS,
		.message = NULL,
	},
	[LG_KIND_TRANSACTION] = {
		.name = "transaction",
		.action = LG_ACT_TERMINATE,
		.measure = LG_MEASURE_TIME,
		.since = "xact_start",
		.session = true,
		.applies = lg_applies_in_xact,
		.period_start = LG_START_XACT,
		.in_transaction = true,
		.during = "in one transaction",
		.default_guc = "leakguard.transaction_timeout",
		.default_limit = &lg_transaction_timeout_ms,
		.rules_guc = "leakguard.application_transaction_timeouts",
		.rules_text = &lg_application_transaction_timeouts,
		.rules = &lg_transaction_rules,
		.observed = LG_OBSERVED_TRANSACTION,
		.suggest_floor_ms = 1000,
		.sqlerrcode = ERRCODE_TRANSACTION_TIMEOUT,
		.message = "terminating connection due to transaction timeout",
	},
	[LG_KIND_XMIN] = {
		.name = "xmin",
		.action = LG_ACT_TERMINATE,
		.measure = LG_MEASURE_XID_AGE,
		.since = "state_change",
		.session = true,
		.applies = lg_applies_idle_in_xact,
		.period_start = LG_START_STATE_CHANGE,
		.in_transaction = true,
		.in_block = true,
		.during = "idle in transaction",
		.default_guc = "leakguard.xmin_age_limit",
		.default_limit = &lg_xmin_age_limit,
		.rules_guc = "leakguard.application_xmin_age_limits",
		.rules_text = &lg_application_xmin_age_limits,
		.rules = &lg_xmin_rules,
		.observed = -1,
		.sqlerrcode = ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
		.message = "terminating connection due to idle-in-transaction timeout",
	},
	[LG_KIND_BLOCKING] = {
		.name = "blocking",
		.action = LG_ACT_TERMINATE,
		.measure = LG_MEASURE_BLOCKED,
		.since = "waitstart",
		.session = true,
		.applies = lg_applies_idle_in_xact,
		.period_start = LG_START_STATE_CHANGE,
		.in_transaction = true,
		.in_block = true,
		.during = "idle in transaction",
		.default_guc = "leakguard.blocking_timeout",
		.default_limit = &lg_blocking_timeout_ms,
		.rules_guc = "leakguard.application_blocking_timeouts",
		.rules_text = &lg_application_blocking_timeouts,
		.rules = &lg_blocking_rules,
		.observed = -1,
		.sqlerrcode = ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
		.message = "terminating connection due to idle-in-transaction timeout",
	},
	[LG_KIND_PREPARED] = {
		.name = "prepared",
		.action = LG_ACT_WARN,
		.measure = LG_MEASURE_TIME,
		.since = "prepared",
		.session = false,
		.applies = lg_applies_never,
		.during = "prepared",
		.default_guc = "leakguard.prepared_transaction_warning",
		.default_limit = &lg_prepared_warning_ms,
		.rules_guc = NULL,
		.rules_text = NULL,
		.rules = NULL,
		.observed = -1,
		.sqlerrcode = ERRCODE_WARNING,
		.message = NULL,
	},
};

const char *
lg_kind_name(int kind)
{
	if (kind < 0 || kind >= LG_NUM_KINDS)
		return "unknown";
	return lg_kinds[kind].name;
}

/*
 * Where a limit of this kind came from, for messages: the rule, or the
 * default setting when no rule matched (rule "").
 */
const char *
lg_kind_source(int kind, const char *rule)
{
	if (rule[0] != '\0')
		return psprintf("rule \"%s\"", rule);
	return lg_kinds[kind].default_guc;
}

/* The SQL names of LeakguardKindAction and LeakguardMeasure. */
const char *
lg_kind_action_name(int kind)
{
	static const char *const names[] = {"terminate", "cancel", "refuse", "warn"};

	return names[lg_kinds[kind].action];
}

const char *
lg_kind_measure_name(int kind)
{
	switch (lg_kinds[kind].measure)
	{
		case LG_MEASURE_XID_AGE:
			return "transactions";
		case LG_MEASURE_CONNECTIONS:
			return "connections";
		case LG_MEASURE_TIME:
		case LG_MEASURE_BLOCKED:
			break;
	}
	return "duration";
}

/* The kind whose SQL name is "name", or -1. */
int
lg_kind_by_name(const char *name)
{
	for (int k = 0; k < LG_NUM_KINDS; k++)
		if (strcmp(lg_kinds[k].name, name) == 0)
			return k;
	return -1;
}

/*
 * The start of the period of kind k of a session whose status shows these
 * starts.
 */
TimestampTz
lg_kind_period_since(int kind, TimestampTz state_change,
					 TimestampTz xact_start, TimestampTz query_start)
{
	switch (lg_kinds[kind].period_start)
	{
		case LG_START_XACT:
			return xact_start;
		case LG_START_QUERY:
			return query_start;
		case LG_START_STATE_CHANGE:
			break;
	}
	return state_change;
}
