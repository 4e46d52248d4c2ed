/*-------------------------------------------------------------------------
 *
 * suggest.c
 *		suggest_limits(), suggested_settings() and suggested_changes(): what
 *		limit to set, from what was observed, and what applying it changes.
 *
 * For each application, for the default, and for each kind of limit (the
 * rows of lg_suggest_kinds[]), suggest_limits() reads the histogram of the
 * durations observed (histogram.c) and suggests the duration at the chosen
 * percentile times the headroom, rounded up to what a person writes
 * (lg_readable_ms()).  A leak seen while the statistics were gathered must
 * not become the limit that excuses it, so a percentile is used only when
 * at least LG_SUGGEST_BEYOND episodes lie beyond it (1000 episodes for the
 * 99th, 10000 for the 99.9th); with fewer, the highest percentile they
 * support is used and the note says so, and with fewer than
 * LG_SUGGEST_MIN_EPISODES nothing is suggested.  No suggestion is below the
 * kind's floor (1 s for idle in transaction and transactions, 1 min for
 * idle): shorter limits would end real work at its first hiccup and make
 * the worker scan all the time; an idle limit is for connections left
 * behind, not for the gaps a pool keeps between bursts.
 *
 * A connection quota is suggested from the highest daily peak of the last
 * LG_PEAK_DAYS days times the headroom, only for an application whose
 * peak was seen on at least LG_SUGGEST_QUOTA_DAYS days; never a default
 * quota, which is a policy, not an observation.
 *
 * The default ("*") is suggested from the applications it governs: those
 * that no rule other than one of '*' alone names and that get no rule of
 * their own (suggestmerge.c), raised to what the most demanding of them
 * needs; never when a "*" rule exempts them.
 *
 * suggested_settings() merges the suggestions into the rule settings in
 * force (suggestmerge.c: each rule in the place that keeps every other
 * limit as it is), then checks the result: a setting that would change a
 * limit no suggestion asked for is not returned, and a NOTICE says why;
 * one that changes nothing is not returned either.  suggested_changes()
 * lists, from the same merge and check, every limit that applying the
 * returned settings changes.
 *
 * The statistics rows of Citus's internal connections are not looked at
 * (citus.c).
 *
 * The limits in force are those of this backend's settings, as limit_for()
 * reports them; suggest_limits() shows them for a session of the
 * application with no role or database named (a qualified rule does not
 * apply).
 *
 * Shared state: the statistics entries, copied under LeakguardShared->lock
 * held shared (lg_stats_copy()); nothing is held while rows are built.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "compat.h"
#include "histogram.h"
#include "kinds.h"
#include "rules.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "sqlfuncs.h"
#include "stats.h"
#include "suggestmerge.h"

#include <math.h>

#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(lg_suggest_limits_sql);
PG_FUNCTION_INFO_V1(lg_suggested_settings_sql);
PG_FUNCTION_INFO_V1(lg_suggested_changes_sql);

#define LG_SUGGEST_COLS			13
#define LG_SETTINGS_COLS		2
#define LG_CHANGES_COLS			9

/* Observations below which nothing is suggested. */
#define LG_SUGGEST_MIN_EPISODES	100

/* Episodes that must lie beyond the percentile a suggestion is read at. */
#define LG_SUGGEST_BEYOND		10

/* Days a peak of connections must be seen on for a quota to be suggested. */
#define LG_SUGGEST_QUOTA_DAYS	3

/* The kinds of limit suggested, in the order of the rows and settings. */
typedef struct LgSuggestKind
{
	int			kind;			/* LeakguardKind: its name, rules, default */
	int			observed;		/* LeakguardObserved; -1: connections */
	int64		floor_ms;		/* the shortest limit suggested */
} LgSuggestKind;

/*
 * Taken from lg_kinds[]: every kind with rules and a histogram of its
 * periods (durations), in the table's order, then the connection quota.
 */
static LgSuggestKind lg_suggest_kinds[LG_NUM_KINDS];
static int	lg_suggest_nkinds = 0;

#define LG_SUGGEST_KINDS		lg_suggest_kinds_count()

static int
lg_suggest_kinds_count(void)
{
	if (lg_suggest_nkinds > 0)
		return lg_suggest_nkinds;
	for (int k = 0; k < LG_NUM_KINDS; k++)
		if (lg_kinds[k].rules_guc != NULL && lg_kinds[k].observed >= 0)
		{
			lg_suggest_kinds[lg_suggest_nkinds].kind = k;
			lg_suggest_kinds[lg_suggest_nkinds].observed = lg_kinds[k].observed;
			lg_suggest_kinds[lg_suggest_nkinds].floor_ms =
				lg_kinds[k].suggest_floor_ms;
			lg_suggest_nkinds++;
		}
	for (int k = 0; k < LG_NUM_KINDS; k++)
		if (lg_kinds[k].rules_guc != NULL &&
			lg_kinds[k].measure == LG_MEASURE_CONNECTIONS)
		{
			lg_suggest_kinds[lg_suggest_nkinds].kind = k;
			lg_suggest_kinds[lg_suggest_nkinds].observed = -1;
			lg_suggest_kinds[lg_suggest_nkinds].floor_ms = 0;
			lg_suggest_nkinds++;
		}
	return lg_suggest_nkinds;
}

/* One suggestion. */
typedef struct LgSuggestion
{
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

/* Add a sentence to a note. */
static const char *
lg_note_add(const char *note, const char *more)
{
	return note == NULL ? more : psprintf("%s; %s", note, more);
}

/*
 * The highest percentile that count episodes support (LG_SUGGEST_BEYOND of
 * them beyond it), in tenths, rounded down.
 */
static double
lg_supported_percentile(int64 count)
{
	return floor(1000.0 * (1.0 - (double) LG_SUGGEST_BEYOND / count) + 1e-6) / 10.0;
}

/* Suggest a duration limit from a histogram. */
static void
lg_suggest_duration(const LeakguardHistogram *h, double percentile,
					double headroom, int64 floor_ms, LgSuggestion *out)
{
	double		used = percentile;
	double		us;
	char		buf[32];

	memset(out, 0, sizeof(*out));
	out->episodes = h->count;
	if (h->count == 0)
	{
		out->note = "nothing observed";
		return;
	}
	out->p50_us = lg_hist_percentile(h, 50);
	out->p99_us = lg_hist_percentile(h, 99);
	out->max_us = h->max_us;
	if (h->count < LG_SUGGEST_MIN_EPISODES)
	{
		out->at_percentile_us = lg_hist_percentile(h, percentile);
		out->note = psprintf("too few observations to suggest a limit (%lld, fewer than %d)",
							 (long long) h->count, LG_SUGGEST_MIN_EPISODES);
		return;
	}
	/* (a tolerance: 100 - 99.9 is a little less than 0.1 in binary) */
	if ((double) h->count * (100.0 - percentile) < 100.0 * LG_SUGGEST_BEYOND - 1e-6)
	{
		used = Min(percentile, lg_supported_percentile(h->count));
		if (percentile >= 100)
			out->note = psprintf("the maximum is never used, a leak would set it: percentile %g of %lld episodes is used (%d of them beyond it)",
								 used, (long long) h->count, LG_SUGGEST_BEYOND);
		else
			out->note = psprintf("percentile %g needs %.0f episodes (%d beyond it), %lld were observed: percentile %g is used",
								 percentile,
								 ceil(100.0 * LG_SUGGEST_BEYOND / (100.0 - percentile) - 1e-6),
								 LG_SUGGEST_BEYOND, (long long) h->count, used);
	}
	out->at_percentile_us = lg_hist_percentile(h, used);
	us = Min((double) out->at_percentile_us * headroom,
			 (double) LG_RULE_MAX_TIMEOUT_MS * 1000);
	out->value = Min(lg_readable_ms((int64) us), LG_RULE_MAX_TIMEOUT_MS);
	if (out->value < floor_ms)
	{
		out->value = floor_ms;
		lg_format_ms(buf, sizeof(buf), floor_ms);
		out->note = lg_note_add(out->note,
								psprintf("raised to %s, the shortest limit of this kind suggested", buf));
	}
	out->would_terminate = lg_hist_count_from(h, out->value * 1000);
}

/* Days of the last LG_PEAK_DAYS on which a connection was seen. */
static int
lg_peak_days(const LeakguardAppStats *st, TimestampTz now)
{
	int64		day = now / USECS_PER_DAY;
	int			days = 0;
	int64		d;

	for (d = Max(day - LG_PEAK_DAYS + 1, 0); d <= Min(day, st->peak_day); d++)
		if (d > st->peak_day - LG_PEAK_DAYS &&
			st->daily_peaks[d % LG_PEAK_DAYS] > 0)
			days++;
	return days;
}

/* Suggest a connection limit from the daily peaks. */
static void
lg_suggest_connections(const LeakguardAppStats *st, double headroom,
					   TimestampTz now, LgSuggestion *out)
{
	int			days = lg_peak_days(st, now);

	memset(out, 0, sizeof(*out));
	out->window_peak = lg_stats_window_peak(st, now);
	if (out->window_peak == 0)
	{
		out->note = "no connection seen in the last 7 days";
		return;
	}
	if (days < LG_SUGGEST_QUOTA_DAYS)
	{
		out->note = psprintf("connections seen on %d %s of the last 7: a quota is suggested from the peaks of at least %d days",
							 days, days == 1 ? "day" : "days",
							 LG_SUGGEST_QUOTA_DAYS);
		return;
	}
	out->value = Min((int64) ceil(out->window_peak * headroom),
					 (int64) LG_RULE_MAX_CONNECTIONS);
}

static void
lg_suggest(const LeakguardAppStats *st, const LgSuggestKind *sk,
		   double percentile, double headroom, TimestampTz now,
		   LgSuggestion *out)
{
	if (sk->observed < 0)
		lg_suggest_connections(st, headroom, now, out);
	else
		lg_suggest_duration(&st->observed[sk->observed], percentile, headroom,
							sk->floor_ms, out);
}

/* The rules of a kind, and its default (0 for connections). */
static const LeakguardRuleSet *
lg_suggest_rules(const LgSuggestKind *sk)
{
	return lg_kind_rules[sk->kind];
}

static int64
lg_suggest_default_limit(const LgSuggestKind *sk)
{
	return lg_kind_limit[sk->kind];
}

/* The statistics as the merge sees them: each name and its suggestion. */
static LgMergeApp *
lg_suggest_apps(const LeakguardAppStats *entries, long n,
				const LgSuggestKind *sk, double percentile, double headroom,
				TimestampTz now)
{
	LgMergeApp *apps = palloc(sizeof(LgMergeApp) * Max(n, 1));
	long		i;

	for (i = 0; i < n; i++)
	{
		LgSuggestion sg;

		lg_suggest(&entries[i], sk, percentile, headroom, now, &sg);
		apps[i].name = entries[i].name;
		apps[i].value = sg.value;
	}
	return apps;
}

/*
 * The default, for the applications it governs (see the header): from
 * their episodes together (and those of applications beyond
 * max_applications), never below what one of them needs.
 */
static void
lg_suggest_default(const LeakguardAppStats *entries, long n,
				   const LeakguardAppStats *overflow, const LgMergeApp *apps,
				   const LgSuggestKind *sk, double percentile,
				   double headroom, LgSuggestion *out)
{
	const LeakguardRuleSet *rules = lg_suggest_rules(sk);
	int64		dflt = lg_suggest_default_limit(sk);
	LeakguardHistogram *governed;
	int64		raised = 0;
	long		i;

	if (sk->observed < 0)
	{
		memset(out, 0, sizeof(*out));
		out->note = "no default quota is suggested: a quota for every application is a policy, not an observation";
		return;
	}
	governed = palloc0(sizeof(LeakguardHistogram));
	for (i = 0; i < n; i++)
	{
		if (!lg_merge_by_default(rules, entries[i].name) ||
			lg_merge_classify(rules, dflt, &apps[i]) == LG_MERGE_OWN)
			continue;
		lg_hist_merge(governed, &entries[i].observed[sk->observed]);
		raised = Max(raised, apps[i].value);
	}
	lg_hist_merge(governed, &overflow->observed[sk->observed]);
	lg_suggest_duration(governed, percentile, headroom, sk->floor_ms, out);
	if (!lg_merge_default_open(rules))
	{
		out->value = 0;
		out->note = "a rule of '*' exempts every application the default would govern";
		return;
	}
	if (out->value != 0 && raised > out->value)
	{
		out->value = raised;
		out->note = lg_note_add(out->note,
								"raised to what the most demanding application it governs needs");
		out->would_terminate = lg_hist_count_from(governed, raised * 1000);
	}
	if (out->note == NULL)
		out->note = "the default: from the applications no rule but one of '*' names, and that get no rule of their own";
}

/* The value of a limit as a rule writes it. */
static char *
lg_limit_text(const LgSuggestKind *sk, int64 value, bool percent)
{
	char		buf[64];

	if (percent)
		return psprintf(INT64_FORMAT "%%", value);
	if (sk->observed < 0 || value == 0)
		return psprintf(INT64_FORMAT, value);
	lg_format_ms(buf, sizeof(buf), value);
	return pstrdup(buf);
}

/*
 * The limit in force for an application, or (appname NULL) for one that
 * no rule names: an unqualified "*" rule if there is one, else the default
 * setting; with no role or database named.
 */
static void
lg_limit_in_force(const char *appname, const LgSuggestKind *sk,
				  LeakguardLimit *limit)
{
	LeakguardWho who;

	if (appname == NULL)
	{
		const LeakguardRuleSet *rules = lg_suggest_rules(sk);
		int64		value;
		int			percent;
		int			r;

		memset(limit, 0, sizeof(*limit));
		r = lg_merge_limit(rules, lg_suggest_default_limit(sk), NULL, NULL,
						   NULL, &value, &percent);
		limit->rule_index = r;
		limit->value = value;
		if (r >= 0)
		{
			if (percent && value > 0)
				limit->value = Max(1, value * MaxConnections / 100);
			lg_copy_rule_text(limit->rule, lg_rule_source(rules, r));
		}
		return;
	}
	who.appname = appname;
	who.usename = NULL;
	who.datname = NULL;
	who.citus_internal = (lg_citus_kind(appname) != LG_CITUS_NONE);
	if (sk->observed < 0)
		lg_connection_limit_for(&who, limit);
	else
		lg_kind_limit_for(sk->kind, &who, limit);
}

static void
lg_put_suggestion(ReturnSetInfo *rsinfo, const char *appname,
				  const LgSuggestKind *sk, const LgSuggestion *sg)
{
	Datum		values[LG_SUGGEST_COLS];
	bool		nulls[LG_SUGGEST_COLS];
	LeakguardLimit limit;
	bool		durations = (sk->observed >= 0);

	memset(nulls, 0, sizeof(nulls));
	if (appname != NULL)
		values[0] = CStringGetTextDatum(appname);
	else
		nulls[0] = true;
	values[1] = CStringGetTextDatum(sk->observed < 0 ? lg_kinds[sk->kind].name :
									lg_kind_name(sk->kind));
	values[2] = Int64GetDatum(sg->episodes);
	nulls[2] = !durations;
	values[3] = lg_interval_us(sg->p50_us);
	values[4] = lg_interval_us(sg->p99_us);
	values[5] = lg_interval_us(sg->at_percentile_us);
	values[6] = lg_interval_us(sg->max_us);
	nulls[3] = nulls[4] = nulls[5] = nulls[6] = !durations || sg->episodes == 0;
	values[7] = Int32GetDatum(sg->window_peak);
	nulls[7] = durations;

	lg_limit_in_force(appname, sk, &limit);
	nulls[8] = limit.rule_index < 0;
	if (!nulls[8])
		values[8] = CStringGetTextDatum(limit.rule);
	values[9] = CStringGetTextDatum(lg_limit_text(sk, limit.value, false));

	nulls[10] = (sg->value == 0);
	if (!nulls[10])
		values[10] = CStringGetTextDatum(lg_limit_text(sk, sg->value, false));
	values[11] = Int64GetDatum(sg->would_terminate);
	nulls[11] = !durations || sg->value == 0;
	nulls[12] = (sg->note == NULL);
	if (!nulls[12])
		values[12] = CStringGetTextDatum(sg->note);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The statistics, copied; *n entries and the overflow row.  The rows of
 * Citus's internal connections are left out: no rule that a suggestion
 * writes applies to them, and their periods (idle in transaction while
 * their session works elsewhere, idle while cached) are not what the
 * default should be suggested from (citus.c).
 */
static LeakguardAppStats *
lg_suggest_stats(long *n, LeakguardAppStats *overflow)
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
	return entries;
}

/* Why an application's suggestion is not written by suggested_settings(). */
static const char *
lg_suggest_left_out(const LgSuggestKind *sk, const LgMergeApp *app)
{
	const LeakguardRuleSet *rules = lg_suggest_rules(sk);
	int			k;

	switch (lg_merge_classify(rules, lg_suggest_default_limit(sk), app))
	{
		case LG_MERGE_EXEMPT:
			k = lg_merge_governing(rules, app->name);
			return psprintf("suggested_settings() keeps rule \"%s\", an exemption",
							lg_rule_source(rules, k));
		case LG_MERGE_OTHER_ROLES:
			k = lg_merge_governing(rules, app->name);
			return psprintf("suggested_settings() keeps rule \"%s\", the rule for the roles and databases that the qualified rules of this name do not name",
							lg_rule_source(rules, k));
		case LG_MERGE_GLOB_NAME:
			return "suggested_settings() writes no rule for a name holding * or ?: its pattern would match other names";
		case LG_MERGE_OWN:
		case LG_MERGE_NO_VALUE:
		case LG_MERGE_SAME:
			break;
	}
	return NULL;
}

Datum
lg_suggest_limits_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	LeakguardAppStats *entries;
	LeakguardAppStats overflow;
	double		percentile;
	double		headroom;
	long		n;
	long		i;
	int			k;

	lg_require_shmem();
	lg_suggest_args(fcinfo, &percentile, &headroom);
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_SUGGEST_COLS, LG_SUGGEST_COLS,
							LG_SUGGEST_COLS, LG_SUGGEST_COLS);

	entries = lg_suggest_stats(&n, &overflow);
	for (k = 0; k < LG_SUGGEST_KINDS; k++)
	{
		const LgSuggestKind *sk = &lg_suggest_kinds[k];
		LgMergeApp *apps = lg_suggest_apps(entries, n, sk, percentile,
										   headroom, now);
		LgSuggestion sg;

		for (i = 0; i <= n; i++)
		{
			const LeakguardAppStats *st = (i < n) ? &entries[i] : &overflow;

			if (i == n && overflow.first_seen == 0)
				break;
			lg_suggest(st, sk, percentile, headroom, now, &sg);
			if (i == n && sg.value != 0)
				sg.note = "applications beyond leakguard.max_applications: no rule names them, the default applies";
			else if (i < n && sg.value != 0)
			{
				const char *left_out = lg_suggest_left_out(sk, &apps[i]);

				if (left_out != NULL)
					sg.note = lg_note_add(sg.note, left_out);
			}
			lg_put_suggestion(rsinfo, st->name, sk, &sg);
		}
		lg_suggest_default(entries, n, &overflow, apps, sk, percentile,
						   headroom, &sg);
		lg_put_suggestion(rsinfo, NULL, sk, &sg);
	}
	return (Datum) 0;
}

/* A change of one limit, copied out of the merge's check. */
typedef struct LgSuggestChange
{
	const char *appname;		/* NULL: an application no rule names */
	const char *usename;		/* NULL: a role no qualifier names */
	const char *datname;		/* likewise */
	char	   *limit_now;
	char	   *limit_after;
	const char *rule_now;		/* NULL: the default */
	const char *rule_after;
} LgSuggestChange;

/* A rule setting as suggested_settings() would write it. */
typedef struct LgSuggestedSetting
{
	const char *name;
	char	   *value;			/* NULL: not written */
	int			nchanges;
	LgSuggestChange *changes;
} LgSuggestedSetting;

/*
 * The suggested value of the rule setting of one kind, checked: value NULL
 * when it changes nothing, or when it would change a limit no suggestion
 * asked for (a NOTICE says so).
 */
static void
lg_suggested_setting(const LgSuggestKind *sk, const LeakguardAppStats *entries,
					 long n, const LeakguardAppStats *overflow,
					 double percentile, double headroom, TimestampTz now,
					 LgSuggestedSetting *out)
{
	const LeakguardRuleSet *rules = lg_suggest_rules(sk);
	int64		dflt = lg_suggest_default_limit(sk);
	LeakguardRuleKind kind = (sk->observed < 0) ? LG_RULES_COUNT :
		LG_RULES_DURATION;
	LgMergeApp *apps = lg_suggest_apps(entries, n, sk, percentile, headroom,
									   now);
	LgSuggestion dsg;
	char	   *merged;
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *after;
	LeakguardRuleSet *after_copy;
	LgMergeCheck check;
	int			i;

	memset(out, 0, sizeof(*out));
	out->name = lg_kinds[sk->kind].rules_guc;
	lg_suggest_default(entries, n, overflow, apps, sk, percentile, headroom,
					   &dsg);

	/* the merge and its check allocate with malloc(): copied, then freed */
	merged = lg_merge_setting(rules, kind, dflt, apps, (int) n, dsg.value);
	if (merged == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	after = lg_rules_parse(merged, kind, LG_NAME_STYLE, err, sizeof(err));
	if (after == NULL)
	{
		char	   *copy = pstrdup(merged);

		free(merged);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("suggested value of \"%s\" does not parse: %s",
						out->name, err[0] ? err : "out of memory"),
				 errdetail("The value was: %s", copy)));
	}
	out->value = pstrdup(merged);
	free(merged);
	after_copy = palloc(after->size);
	memcpy(after_copy, after, after->size);
	free(after);

	if (lg_merge_check(rules, after_copy, dflt, apps, (int) n, dsg.value,
					   &check) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	out->nchanges = check.nchanges;
	out->changes = palloc0(sizeof(LgSuggestChange) * Max(check.nchanges, 1));
	for (i = 0; i < check.nchanges; i++)
	{
		const LgMergeChange *c = &check.changes[i];
		LgSuggestChange *r = &out->changes[i];

		r->appname = (c->app >= 0) ? apps[c->app].name : NULL;
		r->usename = c->user ? pstrdup(c->user) : NULL;
		r->datname = c->database ? pstrdup(c->database) : NULL;
		r->limit_now = lg_limit_text(sk, c->limit_now, c->percent_now);
		r->limit_after = lg_limit_text(sk, c->limit_after, c->percent_after);
		r->rule_now = (c->rule_now >= 0) ? lg_rule_source(rules, c->rule_now) : NULL;
		r->rule_after = (c->rule_after >= 0) ?
			lg_rule_source(after_copy, c->rule_after) : NULL;
	}
	i = check.unasked;
	lg_merge_check_free(&check);

	if (i >= 0)
	{
		const LgSuggestChange *r = &out->changes[i];
		StringInfoData who;

		initStringInfo(&who);
		if (r->appname != NULL)
			appendStringInfo(&who, "application %s", quote_literal_cstr(r->appname));
		else
			appendStringInfoString(&who, "an application no rule names");
		if (r->usename != NULL)
			appendStringInfo(&who, ", role %s", quote_literal_cstr(r->usename));
		if (r->datname != NULL)
			appendStringInfo(&who, ", database %s", quote_literal_cstr(r->datname));
		ereport(NOTICE,
				(errmsg("no value is suggested for \"%s\"", out->name),
				 errdetail("It would change the limit of %s from %s to %s, which no suggestion asks for.",
						   who.data, r->limit_now, r->limit_after)));
		out->value = NULL;
		out->nchanges = 0;
	}
	else if (out->nchanges == 0)
		out->value = NULL;
}

/* The suggested value of every rule setting; settings[LG_NUM_KINDS]. */
static void
lg_suggested_settings(FunctionCallInfo fcinfo, LgSuggestedSetting *settings)
{
	TimestampTz now = GetCurrentTimestamp();
	LeakguardAppStats *entries;
	LeakguardAppStats overflow;
	double		percentile;
	double		headroom;
	long		n;
	int			k;

	lg_require_shmem();
	lg_suggest_args(fcinfo, &percentile, &headroom);
	entries = lg_suggest_stats(&n, &overflow);
	for (k = 0; k < LG_SUGGEST_KINDS; k++)
		lg_suggested_setting(&lg_suggest_kinds[k], entries, n, &overflow,
							 percentile, headroom, now, &settings[k]);
}

Datum
lg_suggested_settings_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LgSuggestedSetting settings[LG_NUM_KINDS];
	int			k;

	lg_suggested_settings(fcinfo, settings);
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_SETTINGS_COLS, LG_SETTINGS_COLS,
							LG_SETTINGS_COLS, LG_SETTINGS_COLS);
	for (k = 0; k < LG_SUGGEST_KINDS; k++)
	{
		Datum		values[LG_SETTINGS_COLS];
		bool		nulls[LG_SETTINGS_COLS] = {false, false};

		if (settings[k].value == NULL)
			continue;
		values[0] = CStringGetTextDatum(settings[k].name);
		values[1] = CStringGetTextDatum(settings[k].value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* A text Datum, or NULL. */
static Datum
lg_text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s != NULL ? CStringGetTextDatum(s) : (Datum) 0;
}

Datum
lg_suggested_changes_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LgSuggestedSetting settings[LG_NUM_KINDS];
	int			k;
	int			i;

	lg_suggested_settings(fcinfo, settings);
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_CHANGES_COLS, LG_CHANGES_COLS,
							LG_CHANGES_COLS, LG_CHANGES_COLS);
	for (k = 0; k < LG_SUGGEST_KINDS; k++)
		for (i = 0; i < settings[k].nchanges; i++)
		{
			const LgSuggestChange *c = &settings[k].changes[i];
			const LgSuggestKind *sk = &lg_suggest_kinds[k];
			Datum		values[LG_CHANGES_COLS];
			bool		nulls[LG_CHANGES_COLS];

			memset(nulls, 0, sizeof(nulls));
			values[0] = CStringGetTextDatum(settings[k].name);
			values[1] = lg_text_or_null(c->appname, &nulls[1]);
			values[2] = lg_text_or_null(c->usename, &nulls[2]);
			values[3] = lg_text_or_null(c->datname, &nulls[3]);
			values[4] = CStringGetTextDatum(sk->observed < 0 ? lg_kinds[sk->kind].name :
											lg_kind_name(sk->kind));
			values[5] = CStringGetTextDatum(c->limit_now);
			values[6] = CStringGetTextDatum(c->limit_after);
			values[7] = lg_text_or_null(c->rule_now, &nulls[7]);
			values[8] = lg_text_or_null(c->rule_after, &nulls[8]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
								 nulls);
		}
	return (Datum) 0;
}
