/*-------------------------------------------------------------------------
 *
 * kinds.c
 *		The kinds of limit leakguard knows, one row each.
 *
 * Every way leakguard acts is a kind: a row of lg_kinds[], and a row of the
 * view leakguard.kinds.  A limit on sessions has one life cycle: a session
 * enters a period of the kind (it becomes idle in transaction, goes idle,
 * opens a transaction, starts a statement), the period has a start (its
 * state_change, xact_start or query_start: period_start), the session's
 * rules give it a limit, and the worker acts when the period's measure
 * passes the limit (LG_MEASURE_TIME: at start + limit; LG_MEASURE_XID_AGE:
 * when a scan finds its xmin or xid older than the limit in transactions;
 * LG_MEASURE_BLOCKED: when a scan finds another session waiting for its
 * locks that long) if it is still in the same period then: it terminates
 * the session or cancels its statement (action), tells the client why with
 * the kind's SQLSTATE and message, and counts it in the kind's counters.
 * The connection quota (refused at login, quota.c) and the prepared
 * transactions' warning (prepared.c) are rows too, for their settings,
 * names and counters.
 *
 * The row is all that differs between kinds.  From it: the settings
 * (settings.c defines each kind's default and rules settings in a loop,
 * with their check hooks, and publishes them with the policy), the worker's
 * scan, deadlines and re-check (tracker.c, terminate.c: by period_start and
 * measure), the signal (by action), the client's message (report.c), the
 * log line, the statistics (LeakguardAppStats.kinds[], by kind), the
 * history, the statistics file (persist.c: counters saved under the kind's
 * name), limit_for's per-kind lookup, suggest_limits() and
 * suggested_settings() (every kind with a histogram of its periods:
 * observed), the views kinds, stats_by_kind and sessions.next_*
 * (kindviews.c, sqlfuncs.c), and the exporter's queries (monitoring/, which
 * read those views).
 *
 * Adding a kind: a LeakguardKind value at the end of the enum (the values
 * are kept in the history); its row here; and, if its periods are measured
 * for suggestions, a LeakguardObserved histogram recorded where its
 * periods end (episodes.c).  A kind measured in time from one of the three
 * starts needs nothing else.  A kind with a measure of its own, as the xmin
 * age and blocking have, also needs the reading of that measure in the
 * worker's scan and its re-check in terminate.c.  The SQL interface needs
 * nothing: the views read the table (limit_for() alone has fixed columns,
 * one pair per kind, appended in the version that adds it).
 *
 * Shared state: none.  The values in force of each kind's settings are
 * lg_kind_limit[], lg_kind_rules_text[] and lg_kind_rules[] (settings.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "kinds.h"
#include "rules.h"
#include "scan.h"

#include <limits.h>

#include "utils/elog.h"
#include "utils/guc.h"

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

/* Running a statement (or a fast-path function call). */
static bool
lg_applies_running(BackendState state, TimestampTz xact_start)
{
	return state == STATE_RUNNING || state == STATE_FASTPATH;
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
		.default_desc = "Idle-in-transaction limit for applications that no rule names; 0 means no limit.",
		.default_long = NULL,
		.default_max = INT_MAX,
		.default_unit = GUC_UNIT_MS,
		.rules_guc = "leakguard.application_timeouts",
		.rules_desc = "Ordered rules pattern=duration, first match on application_name wins.",
		.rules_long = "Example: 'batch*=10min, \"my app\"=30s, pg_dump=0'.",
		.rule_kind = LG_RULES_DURATION,
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
		.default_desc = "Idle-session limit for applications that no idle rule names; 0 means no limit.",
		.default_long = "It applies to sessions idle outside a transaction.",
		.default_max = INT_MAX,
		.default_unit = GUC_UNIT_MS,
		.rules_guc = "leakguard.application_idle_timeouts",
		.rules_desc = "Ordered rules pattern=duration for idle sessions, first match on application_name wins.",
		.rules_long = "Example: 'test-suite*=5min, * user app_via_pgbouncer=0'.",
		.rule_kind = LG_RULES_DURATION,
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
		.rules_guc = "leakguard.application_connection_limits",
		.rules_desc = "Ordered rules pattern=N or pattern=P%: the most client connections one application_name may hold.",
		.rules_long = "P% is a share of max_connections; 0 means no quota; a * rule sets a default.",
		.rule_kind = LG_RULES_COUNT,
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
		.default_desc = "Transaction age limit for applications that no transaction rule names; 0 means no limit.",
		.default_long = "It applies from xact_start, to active and idle sessions alike.",
		.default_max = INT_MAX,
		.default_unit = GUC_UNIT_MS,
		.rules_guc = "leakguard.application_transaction_timeouts",
		.rules_desc = "Ordered rules pattern=duration for transaction age, first match on application_name wins.",
		.rules_long = "Example: 'web*=30s, reporting=1h, pg_dump=0'.",
		.rule_kind = LG_RULES_DURATION,
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
		.default_desc = "xmin age limit, in transactions, of sessions idle in transaction, for applications that no xmin rule names; 0 means no limit.",
		.default_long = "The age of the session's backend_xmin or backend_xid against the next transaction ID (on a standby, what it has replayed).",
		.default_max = LG_RULE_MAX_XID_AGE,
		.default_unit = 0,
		.rules_guc = "leakguard.application_xmin_age_limits",
		.rules_desc = "Ordered rules pattern=N, a number of transactions, for the xmin age of sessions idle in transaction; first match on application_name wins.",
		.rules_long = "Example: 'etl*=50000000, pg_dump=0'.",
		.rule_kind = LG_RULES_XID_AGE,
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
		.default_desc = "How long a session idle in transaction may keep another session waiting for its locks, for applications that no blocking rule names; 0 means no limit.",
		.default_long = "Measured from the later of the waiter's wait start and the moment the blocker went idle.",
		.default_max = INT_MAX,
		.default_unit = GUC_UNIT_MS,
		.rules_guc = "leakguard.application_blocking_timeouts",
		.rules_desc = "Ordered rules pattern=duration for sessions idle in transaction that block others; first match on application_name wins.",
		.rules_long = "Example: 'web*=5s, pg_dump=0'.",
		.rule_kind = LG_RULES_DURATION,
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
		.default_desc = "Age at which the leakguard worker logs a warning, once, for each prepared transaction; 0 means never.",
		.default_long = "leakguard never commits or rolls back a prepared transaction.",
		.default_max = INT_MAX,
		.default_unit = GUC_UNIT_MS,
		.observed = -1,
		.sqlerrcode = ERRCODE_WARNING,
		.message = NULL,
	},
	[LG_KIND_STATEMENT] = {
		.name = "statement",
		.action = LG_ACT_CANCEL,
		.measure = LG_MEASURE_TIME,
		.since = "query_start",
		.session = true,
		.applies = lg_applies_running,
		.period_start = LG_START_QUERY,
		.in_transaction = false,
		.during = "running",
		.default_guc = "leakguard.statement_timeout",
		.default_desc = "Statement limit for applications that no statement rule names: a statement running longer is cancelled; 0 means no limit.",
		.default_long = "Measured from query_start; the session's own statement_timeout cannot lift it.",
		.default_max = INT_MAX,
		.default_unit = GUC_UNIT_MS,
		.rules_guc = "leakguard.application_statement_timeouts",
		.rules_desc = "Ordered rules pattern=duration for statements, first match on application_name wins.",
		.rules_long = "Example: 'web*=30s, reporting=1h, pg_dump=0'.",
		.rule_kind = LG_RULES_DURATION,
		.observed = LG_OBSERVED_STATEMENT,
		.suggest_floor_ms = 1000,
		.sqlerrcode = ERRCODE_QUERY_CANCELED,
		.message = "canceling statement due to statement timeout",
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
