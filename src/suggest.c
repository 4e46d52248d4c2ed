/*-------------------------------------------------------------------------
 *
 * suggest.c
 *		suggest_limits() and suggested_settings(): what limit to set, from
 *		what was observed.
 *
 * For each application, and for all applications together (the default),
 * and for each kind of limit, suggest_limits() reads the histogram of the
 * durations observed (histogram.c) and suggests the duration at the chosen
 * percentile times the headroom, rounded up to what a person writes
 * (lg_readable_ms()); for connections, the highest daily peak of the last
 * LG_PEAK_DAYS days times the headroom, rounded up.  Fewer than
 * LG_SUGGEST_MIN_EPISODES observations suggest nothing: the note says why.
 * An idle limit is never suggested below LG_SUGGEST_MIN_IDLE_MS: the idle
 * periods of a busy application are the gaps between its transactions,
 * and a limit near them would end the connections a pool keeps for the
 * next burst; idle limits are for connections left behind.
 * would_terminate counts the observed durations that reached the
 * suggestion, at the histogram's resolution.
 *
 * suggested_settings() turns the suggestions into the values of the rule
 * settings, in the rule syntax, so that a reload accepts them: first the
 * rules the DBA decided and leakguard does not second-guess (a 0 exemption,
 * a rule qualified by role or database), as written and in their order;
 * then one rule per application with a suggestion; then the other existing
 * rules, for applications with too few observations (not one that names
 * exactly an application given its own rule); last the default, "*",
 * suggested from all applications but never below what one of them needs,
 * or the existing "*" rule.
 *
 * The statistics rows of Citus's internal connections are not looked at
 * (citus.c).
 *
 * The limits in force are those of this backend's settings, as limit_for()
 * reports them, for a session of the application with no role or database
 * named (a qualified rule does not apply).
 *
 * Shared state: the statistics entries, copied under LeakguardShared->lock
 * held shared (lg_stats_copy()); nothing is held while rows are built.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include <math.h>

#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(lg_suggest_limits_sql);
PG_FUNCTION_INFO_V1(lg_suggested_settings_sql);

#define LG_SUGGEST_COLS			13
#define LG_SETTINGS_COLS		2

/* Observations below which nothing is suggested. */
#define LG_SUGGEST_MIN_EPISODES	100

/* The shortest idle limit suggested (see the header). */
#define LG_SUGGEST_MIN_IDLE_MS	(60 * 1000)

/* The kinds of limit, in the order of the rows. */
typedef enum LgSuggestKind
{
	LG_SUGGEST_XACT_IDLE,
	LG_SUGGEST_IDLE,
	LG_SUGGEST_TRANSACTION,
	LG_SUGGEST_CONNECTIONS
} LgSuggestKind;

#define LG_SUGGEST_KINDS		4

static const char *const lg_suggest_kind_names[LG_SUGGEST_KINDS] = {
	"idle in transaction", "idle", "transaction", "connections"
};

/* One suggestion. */
typedef struct LgSuggestion
{
	bool		has_observations;	/* durations: a histogram; connections: a peak */
	int64		episodes;
	int64		p50_us;
	int64		p99_us;
	int64		at_percentile_us;
	int64		max_us;
	int32		window_peak;
	int64		value;			/* ms or connections; 0: no suggestion */
	int64		would_terminate;
	const char *note;
} LgSuggestion;

/* The arguments, checked. */
static void
lg_suggest_args(FunctionCallInfo fcinfo, double *percentile, double *headroom)
{
	*percentile = PG_ARGISNULL(0) ? 99.9 : PG_GETARG_FLOAT8(0);
	*headroom = PG_ARGISNULL(1) ? 2.0 : PG_GETARG_FLOAT8(1);
	if (!(*percentile > 0 && *percentile <= 100))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("percentile must be greater than 0 and at most 100")));
	if (!(*headroom >= 1 && *headroom <= 1000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headroom must be between 1 and 1000"),
				 errdetail("A suggestion below what was observed would end legitimate sessions.")));
}

/* Suggest a duration limit from a histogram. */
static void
lg_suggest_duration(const LeakguardHistogram *h, double percentile,
					double headroom, int64 floor_ms, LgSuggestion *out)
{
	double		us;

	memset(out, 0, sizeof(*out));
	out->has_observations = h->count > 0;
	out->episodes = h->count;
	if (h->count == 0)
	{
		out->note = "nothing observed";
		return;
	}
	out->p50_us = lg_hist_percentile(h, 50);
	out->p99_us = lg_hist_percentile(h, 99);
	out->at_percentile_us = lg_hist_percentile(h, percentile);
	out->max_us = h->max_us;
	if (h->count < LG_SUGGEST_MIN_EPISODES)
	{
		out->note = psprintf("too few observations to suggest a limit (%lld, fewer than %d)",
							 (long long) h->count, LG_SUGGEST_MIN_EPISODES);
		return;
	}
	us = Min((double) out->at_percentile_us * headroom,
			 (double) LG_RULE_MAX_TIMEOUT_MS * 1000);
	out->value = Min(lg_readable_ms((int64) us), LG_RULE_MAX_TIMEOUT_MS);
	if (out->value < floor_ms)
	{
		out->value = floor_ms;
		out->note = "raised to 1min, the shortest idle limit suggested: a pool keeps idle connections between bursts";
	}
	out->would_terminate = lg_hist_count_from(h, out->value * 1000);
}

/* Suggest a connection limit from the daily peaks. */
static void
lg_suggest_connections(int32 window_peak, double headroom, LgSuggestion *out)
{
	memset(out, 0, sizeof(*out));
	out->has_observations = window_peak > 0;
	out->window_peak = window_peak;
	if (window_peak == 0)
	{
		out->note = "no connection seen in the last 7 days";
		return;
	}
	out->value = Min((int64) ceil(window_peak * headroom),
					 (int64) LG_RULE_MAX_CONNECTIONS);
}

static void
lg_suggest(const LeakguardAppStats *st, LgSuggestKind kind, double percentile,
		   double headroom, TimestampTz now, LgSuggestion *out)
{
	if (kind == LG_SUGGEST_CONNECTIONS)
		lg_suggest_connections(lg_stats_window_peak(st, now), headroom, out);
	else
		lg_suggest_duration(&st->observed[kind == LG_SUGGEST_XACT_IDLE ?
										  LG_OBSERVED_XACT_IDLE :
										  kind == LG_SUGGEST_IDLE ?
										  LG_OBSERVED_IDLE :
										  LG_OBSERVED_TRANSACTION],
							percentile, headroom,
							kind == LG_SUGGEST_IDLE ? LG_SUGGEST_MIN_IDLE_MS : 0,
							out);
}

/*
 * All applications together: the histograms merged, the highest window
 * peak of any one application (a default quota holds per application).
 */
static void
lg_stats_all(const LeakguardAppStats *entries, long n,
			 const LeakguardAppStats *overflow, TimestampTz now,
			 LeakguardAppStats *all)
{
	long		i;
	int			k;

	memset(all, 0, sizeof(*all));
	all->peak_day = now / USECS_PER_DAY;
	for (i = 0; i <= n; i++)
	{
		const LeakguardAppStats *st = (i < n) ? &entries[i] : overflow;

		for (k = 0; k < LG_NUM_OBSERVED; k++)
			lg_hist_merge(&all->observed[k], &st->observed[k]);
		all->daily_peaks[all->peak_day % LG_PEAK_DAYS] =
			Max(all->daily_peaks[all->peak_day % LG_PEAK_DAYS],
				lg_stats_window_peak(st, now));
	}
}

/*
 * The default, for applications no rule names: suggested from all
 * applications together, but never below what any one application needs,
 * since one that no rule names may be any of them.
 */
static void
lg_suggest_default(const LeakguardAppStats *entries, long n,
				   const LeakguardAppStats *all, LgSuggestKind kind,
				   double percentile, double headroom, TimestampTz now,
				   LgSuggestion *out)
{
	long		i;
	int64		raised = 0;

	lg_suggest(all, kind, percentile, headroom, now, out);
	if (out->value == 0)
		return;
	for (i = 0; i < n; i++)
	{
		LgSuggestion sg;

		lg_suggest(&entries[i], kind, percentile, headroom, now, &sg);
		raised = Max(raised, sg.value);
	}
	if (raised > out->value)
	{
		out->value = raised;
		out->note = "raised to what the most demanding application needs";
		if (kind != LG_SUGGEST_CONNECTIONS)
			out->would_terminate =
				lg_hist_count_from(&all->observed[kind == LG_SUGGEST_XACT_IDLE ?
												  LG_OBSERVED_XACT_IDLE :
												  kind == LG_SUGGEST_IDLE ?
												  LG_OBSERVED_IDLE :
												  LG_OBSERVED_TRANSACTION],
								   raised * 1000);
	}
}

/* The value of a limit as a rule writes it. */
static char *
lg_limit_text(LgSuggestKind kind, int64 value)
{
	char		buf[64];

	if (kind == LG_SUGGEST_CONNECTIONS || value == 0)
		return psprintf(INT64_FORMAT, value);
	lg_format_ms(buf, sizeof(buf), value);
	return pstrdup(buf);
}

/* The rules of a kind of limit (NULL: none in this version). */
static const LeakguardRuleSet *
lg_suggest_rules(LgSuggestKind kind)
{
	switch (kind)
	{
		case LG_SUGGEST_XACT_IDLE:
			return lg_rules;
		case LG_SUGGEST_IDLE:
			return lg_idle_rules;
		case LG_SUGGEST_CONNECTIONS:
			return lg_connection_rules;
		case LG_SUGGEST_TRANSACTION:
			return lg_transaction_rules;
	}
	return NULL;
}

/*
 * The limit in force for an application, or (appname NULL) for one that
 * no rule names: an unqualified "*" rule if there is one, else the default
 * setting.
 */
static bool
lg_limit_in_force(const char *appname, LgSuggestKind kind, LeakguardLimit *limit)
{
	const LeakguardRuleSet *rules = lg_suggest_rules(kind);
	LeakguardWho who;
	int			r;

	if (appname == NULL)
	{
		for (r = 0; rules != NULL && r < rules->nrules; r++)
			if (strcmp(lg_rule_pattern(rules, r), "*") == 0 &&
				lg_rule_user(rules, r) == NULL &&
				lg_rule_database(rules, r) == NULL)
				break;
		memset(limit, 0, sizeof(*limit));
		limit->rule_index = -1;
		limit->timeout_ms = (kind == LG_SUGGEST_XACT_IDLE) ? lg_default_timeout_ms :
			(kind == LG_SUGGEST_IDLE) ? lg_idle_timeout_ms :
			(kind == LG_SUGGEST_TRANSACTION) ? lg_transaction_timeout_ms : 0;
		if (rules != NULL && r < rules->nrules)
		{
			limit->rule_index = r;
			limit->timeout_ms = rules->rules[r].value;
			if (rules->rules[r].percent && limit->timeout_ms > 0)
				limit->timeout_ms = Max(1, limit->timeout_ms * MaxConnections / 100);
			lg_copy_rule_text(limit->rule, lg_rule_source(rules, r));
		}
		return true;
	}
	who.appname = appname;
	who.usename = NULL;
	who.datname = NULL;
	who.citus_internal = (lg_citus_kind(appname) != LG_CITUS_NONE);
	if (kind == LG_SUGGEST_XACT_IDLE)
		lg_kind_limit_for(LG_KIND_XACT, &who, limit);
	else if (kind == LG_SUGGEST_IDLE)
		lg_kind_limit_for(LG_KIND_IDLE, &who, limit);
	else if (kind == LG_SUGGEST_TRANSACTION)
		lg_kind_limit_for(LG_KIND_TRANSACTION, &who, limit);
	else
		lg_connection_limit_for(&who, limit);
	return true;
}

static void
lg_put_suggestion(ReturnSetInfo *rsinfo, const char *appname,
				  LgSuggestKind kind, const LgSuggestion *sg)
{
	Datum		values[LG_SUGGEST_COLS];
	bool		nulls[LG_SUGGEST_COLS];
	LeakguardLimit limit;
	bool		known;
	bool		durations = (kind != LG_SUGGEST_CONNECTIONS);

	memset(nulls, 0, sizeof(nulls));
	if (appname != NULL)
		values[0] = CStringGetTextDatum(appname);
	else
		nulls[0] = true;
	values[1] = CStringGetTextDatum(lg_suggest_kind_names[kind]);
	values[2] = Int64GetDatum(sg->episodes);
	nulls[2] = !durations;
	values[3] = lg_interval_us(sg->p50_us);
	values[4] = lg_interval_us(sg->p99_us);
	values[5] = lg_interval_us(sg->at_percentile_us);
	values[6] = lg_interval_us(sg->max_us);
	nulls[3] = nulls[4] = nulls[5] = nulls[6] = !durations || sg->episodes == 0;
	values[7] = Int32GetDatum(sg->window_peak);
	nulls[7] = durations;

	known = lg_limit_in_force(appname, kind, &limit);
	nulls[8] = !known || limit.rule_index < 0;
	if (!nulls[8])
		values[8] = CStringGetTextDatum(limit.rule);
	nulls[9] = !known;
	if (known)
		values[9] = CStringGetTextDatum(lg_limit_text(kind, limit.timeout_ms));

	nulls[10] = (sg->value == 0);
	if (!nulls[10])
		values[10] = CStringGetTextDatum(lg_limit_text(kind, sg->value));
	values[11] = Int64GetDatum(sg->would_terminate);
	nulls[11] = !durations || sg->value == 0;
	nulls[12] = (sg->note == NULL);
	if (!nulls[12])
		values[12] = CStringGetTextDatum(sg->note);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The statistics, copied; *n entries, the overflow row, and all together.
 * The rows of Citus's internal connections are left out: no rule that a
 * suggestion writes applies to them, and their periods (idle in transaction
 * while their session works elsewhere, idle while cached) are not what the
 * default should be suggested from (citus.c).
 */
static LeakguardAppStats *
lg_suggest_stats(long *n, LeakguardAppStats *overflow, LeakguardAppStats *all,
				 TimestampTz now)
{
	LeakguardAppStats *entries;
	TimestampTz stats_reset;
	long		copied;
	long		i;

	entries = palloc(sizeof(LeakguardAppStats) * lg_max_applications);
	copied = lg_stats_copy(entries, overflow, &stats_reset);
	*n = 0;
	for (i = 0; i < copied; i++)
	{
		if (lg_citus_stats_row(entries[i].name))
			continue;
		if (*n != i)
			entries[*n] = entries[i];
		(*n)++;
	}
	lg_stats_all(entries, *n, overflow, now, all);
	return entries;
}

Datum
lg_suggest_limits_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	LeakguardAppStats *entries;
	LeakguardAppStats overflow;
	LeakguardAppStats all;
	double		percentile;
	double		headroom;
	long		n;
	long		i;
	int			k;

	lg_require_shmem();
	lg_suggest_args(fcinfo, &percentile, &headroom);
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_SUGGEST_COLS, LG_SUGGEST_COLS,
							LG_SUGGEST_COLS);

	entries = lg_suggest_stats(&n, &overflow, &all, now);
	for (i = 0; i <= n; i++)
	{
		const LeakguardAppStats *st = (i < n) ? &entries[i] : &overflow;

		if (i == n && overflow.first_seen == 0)
			break;
		for (k = 0; k < LG_SUGGEST_KINDS; k++)
		{
			LgSuggestion sg;

			lg_suggest(st, k, percentile, headroom, now, &sg);
			if (i == n && sg.value != 0)
				sg.note = "applications beyond leakguard.max_applications: no rule names them, the default applies";
			lg_put_suggestion(rsinfo, st->name, k, &sg);
		}
	}
	for (k = 0; k < LG_SUGGEST_KINDS; k++)
	{
		LgSuggestion sg;

		lg_suggest_default(entries, n, &all, k, percentile, headroom, now, &sg);
		if (sg.note == NULL)
			sg.note = "all applications: the default, for applications no rule names";
		lg_put_suggestion(rsinfo, NULL, k, &sg);
	}
	return (Datum) 0;
}

/* Append a rule "pattern=value" with the pattern quoted. */
static void
lg_append_rule(StringInfo buf, const char *appname, const char *value)
{
	const char *p;

	if (buf->len > 0)
		appendStringInfoString(buf, ", ");
	appendStringInfoChar(buf, '"');
	for (p = appname; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfo(buf, "\"=%s", value);
}

static void
lg_append_source(StringInfo buf, const LeakguardRuleSet *rules, int i)
{
	if (buf->len > 0)
		appendStringInfoString(buf, ", ");
	appendStringInfoString(buf, lg_rule_source(rules, i));
}

/* Whether rule i is the DBA's to keep as it is: qualified, or an exemption. */
static bool
lg_rule_kept(const LeakguardRuleSet *rules, int i)
{
	return rules->rules[i].value == 0 ||
		lg_rule_user(rules, i) != NULL || lg_rule_database(rules, i) != NULL;
}

/* The new value of one rule setting. */
static char *
lg_suggested_setting(const LeakguardRuleSet *rules, LgSuggestKind kind,
					 const LeakguardAppStats *entries, long n,
					 const LeakguardAppStats *all, double percentile,
					 double headroom, TimestampTz now)
{
	StringInfoData buf;
	int			nrules = (rules != NULL) ? rules->nrules : 0;
	int			default_rule = -1;
	bool	   *suggested = palloc0(sizeof(bool) * Max(n, 1));
	LgSuggestion sg;
	long		i;
	int			r;

	initStringInfo(&buf);

	/* the DBA's exemptions and qualified rules, first, as they were */
	for (r = 0; r < nrules; r++)
		if (lg_rule_kept(rules, r))
			lg_append_source(&buf, rules, r);

	/* a rule per application that has a suggestion and no exemption */
	for (i = 0; i < n; i++)
	{
		int			match = lg_rules_match(rules, entries[i].name, NULL, NULL);

		if (match >= 0 && rules->rules[match].value == 0)
			continue;
		/* a glob character would make the pattern match other names */
		if (strpbrk(entries[i].name, "*?") != NULL)
			continue;
		lg_suggest(&entries[i], kind, percentile, headroom, now, &sg);
		if (sg.value != 0)
		{
			lg_append_rule(&buf, entries[i].name, lg_limit_text(kind, sg.value));
			suggested[i] = true;
		}
	}

	/*
	 * The other rules, for applications with too few observations; not a
	 * rule that names exactly one application given its own rule above.
	 */
	for (r = 0; r < nrules; r++)
	{
		const char *pattern = lg_rule_pattern(rules, r);
		bool		replaced = false;

		if (lg_rule_kept(rules, r))
			continue;
		for (i = 0; i < n && strpbrk(pattern, "*?\\") == NULL; i++)
			if (suggested[i] && strcmp(pattern, entries[i].name) == 0)
				replaced = true;
		if (replaced)
			continue;
		if (strcmp(lg_rule_pattern(rules, r), "*") == 0)
		{
			if (default_rule < 0)
				default_rule = r;
			continue;
		}
		lg_append_source(&buf, rules, r);
	}

	/* the default last */
	lg_suggest_default(entries, n, all, kind, percentile, headroom, now, &sg);
	if (sg.value != 0)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "*=%s", lg_limit_text(kind, sg.value));
	}
	else if (default_rule >= 0)
		lg_append_source(&buf, rules, default_rule);
	return buf.data;
}

Datum
lg_suggested_settings_sql(PG_FUNCTION_ARGS)
{
	static const struct
	{
		const char *name;
		LgSuggestKind kind;
	}			settings[] = {
		{"leakguard.application_timeouts", LG_SUGGEST_XACT_IDLE},
		{"leakguard.application_idle_timeouts", LG_SUGGEST_IDLE},
		{"leakguard.application_connection_limits", LG_SUGGEST_CONNECTIONS}
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	LeakguardAppStats *entries;
	LeakguardAppStats overflow;
	LeakguardAppStats all;
	double		percentile;
	double		headroom;
	long		n;
	int			k;

	lg_require_shmem();
	lg_suggest_args(fcinfo, &percentile, &headroom);
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_SETTINGS_COLS, LG_SETTINGS_COLS,
							LG_SETTINGS_COLS);

	entries = lg_suggest_stats(&n, &overflow, &all, now);
	for (k = 0; k < lengthof(settings); k++)
	{
		const LeakguardRuleSet *rules;
		Datum		values[LG_SETTINGS_COLS];
		bool		nulls[LG_SETTINGS_COLS] = {false, false};

		rules = lg_suggest_rules(settings[k].kind);
		values[0] = CStringGetTextDatum(settings[k].name);
		values[1] = CStringGetTextDatum(lg_suggested_setting(rules, settings[k].kind,
															 entries, n, &all,
															 percentile, headroom,
															 now));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
