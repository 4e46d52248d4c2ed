/*-------------------------------------------------------------------------
 *
 * kindviews.c
 *		The SQL views of the kinds of limit: kinds, and stats_by_kind.
 *
 * Both read lg_kinds[] (kinds.c) and nothing else names a kind here, so a
 * kind added to the table appears in them as it is: a row of kinds, and
 * the rows of stats_by_kind of the applications it acted on.
 *
 * stats_by_kind shows every application's counters of every kind with any
 * activity, with the histogram of the kind's periods where it has one
 * (episodes, p50, p99, max).  The counters are visible to all, as those of
 * stats are (sqlfuncs.c says why).
 *
 * Shared state: the statistics entries, copied by lg_stats_copy()
 * (sqlfuncs.c) under LeakguardShared->lock held shared, in chunks.
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

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/elog.h"

PG_FUNCTION_INFO_V1(lg_kinds_sql);
PG_FUNCTION_INFO_V1(lg_stats_by_kind_sql);
PG_FUNCTION_INFO_V1(lg_limits_for_sql);

#define LG_KINDS_COLS			7
#define LG_STATS_BY_KIND_COLS	9
#define LG_LIMITS_FOR_COLS		4

static Datum
lg_text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s != NULL ? CStringGetTextDatum(s) : (Datum) 0;
}

Datum
lg_kinds_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_KINDS_COLS, LG_KINDS_COLS,
							LG_KINDS_COLS, LG_KINDS_COLS);
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LeakguardKindDef *kind = &lg_kinds[k];
		Datum		values[LG_KINDS_COLS];
		bool		nulls[LG_KINDS_COLS];

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(kind->name);
		values[1] = CStringGetTextDatum(lg_kind_action_name(k));
		values[2] = CStringGetTextDatum(lg_kind_measure_name(k));
		values[3] = CStringGetTextDatum(kind->since);
		values[4] = CStringGetTextDatum(unpack_sql_state(kind->sqlerrcode));
		values[5] = lg_text_or_null(kind->default_guc, &nulls[5]);
		values[6] = lg_text_or_null(kind->rules_guc, &nulls[6]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The rows of one application's statistics, a row per kind with activity. */
static void
lg_put_kind_rows(ReturnSetInfo *rsinfo, const LeakguardAppStats *st)
{
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LeakguardKindCounts *c = &st->kinds[k];
		const LeakguardHistogram *h = NULL;
		Datum		values[LG_STATS_BY_KIND_COLS];
		bool		nulls[LG_STATS_BY_KIND_COLS];

		if (lg_kinds[k].observed >= 0)
			h = &st->observed[lg_kinds[k].observed];
		if (c->acted == 0 && c->dry_run == 0 && (h == NULL || h->count == 0))
			continue;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(st->name);
		values[1] = CStringGetTextDatum(lg_kinds[k].name);
		values[2] = Int64GetDatum(c->acted);
		values[3] = Int64GetDatum(c->dry_run);
		if (h != NULL)
		{
			values[4] = Int64GetDatum(h->count);
			if (h->count > 0)
			{
				values[5] = lg_interval_us(lg_hist_percentile(h, 50));
				values[6] = lg_interval_us(lg_hist_percentile(h, 99));
				values[7] = lg_interval_us(h->max_us);
			}
			else
				nulls[5] = nulls[6] = nulls[7] = true;
		}
		else
			nulls[4] = nulls[5] = nulls[6] = nulls[7] = true;
		nulls[8] = (c->last_at == 0);
		values[8] = TimestampTzGetDatum(c->last_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

Datum
lg_stats_by_kind_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LeakguardAppStats *entries;
	LeakguardAppStats overflow;
	TimestampTz stats_reset;
	long		n;

	lg_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_STATS_BY_KIND_COLS,
							LG_STATS_BY_KIND_COLS, LG_STATS_BY_KIND_COLS,
							LG_STATS_BY_KIND_COLS);

	/* The hash never holds more than max_applications entries. */
	entries = palloc(sizeof(LeakguardAppStats) * lg_max_applications);
	n = lg_stats_copy(entries, &overflow, &stats_reset);
	for (long i = 0; i < n; i++)
		lg_put_kind_rows(rsinfo, &entries[i]);
	lg_put_kind_rows(rsinfo, &overflow);
	pfree(entries);
	return (Datum) 0;
}

/*
 * limits_for(application_name, usename, datname): a row per kind with a
 * setting, the rule that matches a session of that application (and, for
 * rules qualified by them, of that role and database; NULL: not given) and
 * its limit: what limit_for() gives in a pair of columns per kind, for
 * every kind of the table, a kind added with its row.
 */
Datum
lg_limits_for_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *given;
	char	   *appname;
	LeakguardWho who;

	lg_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	lg_check_result_columns(rsinfo->setDesc, LG_LIMITS_FOR_COLS,
							LG_LIMITS_FOR_COLS, LG_LIMITS_FOR_COLS,
							LG_LIMITS_FOR_COLS);
	if (PG_ARGISNULL(0))
		return (Datum) 0;

	/* the name as the server would store it, as limit_for() looks it up */
	given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	appname = palloc(LG_CLEAN_GROWTH * strlen(given) + 1);
	if (lg_clean_name(appname, given, LG_NAME_STYLE) >= NAMEDATALEN)
		appname[NAMEDATALEN - 1] = '\0';
	who.appname = appname;
	who.usename = PG_ARGISNULL(1) ? NULL : NameStr(*PG_GETARG_NAME(1));
	who.datname = PG_ARGISNULL(2) ? NULL : NameStr(*PG_GETARG_NAME(2));
	who.citus_internal = (lg_citus_kind(appname) != LG_CITUS_NONE);

	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LeakguardKindDef *kind = &lg_kinds[k];
		LeakguardLimit limit;
		Datum		values[LG_LIMITS_FOR_COLS];
		bool		nulls[LG_LIMITS_FOR_COLS];

		memset(nulls, 0, sizeof(nulls));
		if (kind->measure == LG_MEASURE_CONNECTIONS)
			lg_connection_limit_for(&who, &limit);
		else if (kind->session)
			lg_kind_limit_for(k, &who, &limit);
		else if (kind->default_guc != NULL)
		{
			/* a warning's threshold: the setting alone, no rules */
			memset(&limit, 0, sizeof(limit));
			limit.rule_index = -1;
			limit.value = lg_kind_limit[k];
		}
		else
			continue;

		values[0] = CStringGetTextDatum(kind->name);
		if (limit.rule_index >= 0)
			values[1] = CStringGetTextDatum(limit.rule);
		else
			nulls[1] = true;
		values[2] = CStringGetTextDatum(lg_kind_limit_text(k, limit.value));
		values[3] = Int64GetDatum(limit.value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
