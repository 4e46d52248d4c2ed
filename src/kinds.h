/*-------------------------------------------------------------------------
 *
 * kinds.h
 *		The kinds of limit: the enum, the row that describes each
 *		(lg_kinds[], kinds.c), and the helpers that read it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_KINDS_H
#define LEAKGUARD_KINDS_H

#include "utils/backend_status.h"

#include "rules.h"

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

extern const char *lg_kind_name(int kind);
extern const char *lg_kind_source(int kind, const char *rule);
extern const char *lg_kind_action_name(int kind);
extern const char *lg_kind_measure_name(int kind);
extern int	lg_kind_by_name(const char *name);
extern TimestampTz lg_kind_period_since(int kind, TimestampTz state_change,
										TimestampTz xact_start,
										TimestampTz query_start);

#endif							/* LEAKGUARD_KINDS_H */
