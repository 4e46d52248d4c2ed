/*-------------------------------------------------------------------------
 *
 * test_suggestmerge.c
 *		Unit and property tests of the merge of suggested limits into rule
 *		settings (src/suggestmerge.c).
 *
 * The cases of issue 28 first, then a property test: many random rule sets
 * (globs, 0s, user and database qualifiers, '*' anywhere, durations and
 * connection limits with percentages) with random observed applications,
 * suggestions and a random suggested default.  For each, the merged setting
 * must parse; the check must find no change that no suggestion asked for;
 * every application given a rule of its own must have its suggestion for
 * the sessions no qualified rule catches; and every (application, role,
 * database) of a larger pool than the check saw, observed or not, whose
 * limit of the kind changes must be covered by a listed change with the
 * same limits now and after.
 *
 * Built with AddressSanitizer and UBSan; no PostgreSQL needed.  The last
 * line is "N passed, M failed".
 *
 *-------------------------------------------------------------------------
 */
#include "suggestmerge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROPERTY_CASES	10000

static int	passed;
static int	failed;

static void
check(int ok, const char *what, const char *detail)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s: %s\n", what, detail);
	}
}

static LeakguardRuleSet *
parse(const char *text, LeakguardRuleKind kind)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(text, kind, LG_NAMES_HEX, err,
										   sizeof(err));

	if (set == NULL)
		printf("parse error for '%s': %s\n", text, err);
	return set;
}

static int64_t
limit_of(const char *text, int64_t dflt, const char *app, const char *user,
		 const char *db)
{
	LeakguardRuleSet *set = parse(text, LG_RULES_DURATION);
	int64_t		v = -1;
	int			pct;

	if (set != NULL)
		lg_merge_limit(set, dflt, app, user, db, &v, &pct);
	free(set);
	return v;
}

/* Merge and check one case: the new text (malloc()ed), or NULL. */
static char *
merge(const char *text, LeakguardRuleKind kind, int64_t dflt,
	  const LgMergeApp *apps, int napps, int64_t dvalue, int *unasked,
	  int *nchanges)
{
	LeakguardRuleSet *before = parse(text, kind);
	LeakguardRuleSet *after;
	LgMergeCheck ck;
	char	   *merged;

	merged = lg_merge_setting(before, kind, dflt, apps, napps, dvalue);
	after = parse(merged, kind);
	if (after == NULL || lg_merge_check(before, after, dflt, apps, napps,
										dvalue, &ck) != 0)
	{
		free(before);
		free(after);
		free(merged);
		return NULL;
	}
	*unasked = ck.unasked;
	*nchanges = ck.nchanges;
	lg_merge_check_free(&ck);
	free(before);
	free(after);
	return merged;
}

static void
test_issue_cases(void)
{
	int			unasked;
	int			n;
	char	   *m;
	LgMergeApp	web[] = {{"web", 9}, {"psql", 20}};
	LgMergeApp	billing[] = {{"billing-api", 2000}};
	LgMergeApp	web2[] = {{"web2", 6}};

	/* 'web=3s, *=0': web keeps a limit, every other application none */
	m = merge("web=3s, *=0", LG_RULES_DURATION, 0, web, 2, 9, &unasked, &n);
	check(m != NULL && strcmp(m, "\"web\"=9ms, *=0") == 0,
		  "web=3s, *=0: web's rule replaced in place, *=0 kept last", m ? m : "NULL");
	check(limit_of(m, 0, "web", NULL, NULL) == 9 &&
		  limit_of(m, 0, "psql", NULL, NULL) == 0,
		  "web=3s, *=0: web 9ms, psql still exempt", m ? m : "NULL");
	check(unasked < 0 && n == 1, "web=3s, *=0: one change, asked for", m ? m : "NULL");
	free(m);

	/* billing-api of app_rw keeps 30 s when nothing is suggested for it */
	m = merge("billing-api=30s, * user app_rw=10min", LG_RULES_DURATION, 0,
			  web, 2, 5000, &unasked, &n);
	check(m != NULL && limit_of(m, 0, "billing-api", "app_rw", NULL) == 30000 &&
		  limit_of(m, 0, "billing-api", "other", NULL) == 30000,
		  "billing-api keeps 30s for app_rw and others", m ? m : "NULL");
	check(m != NULL && limit_of(m, 0, "web", "app_rw", NULL) == 600000 &&
		  limit_of(m, 0, "web", "other", NULL) == 9,
		  "web of app_rw keeps 10min, other roles get the suggestion", m ? m : "NULL");
	check(m != NULL && limit_of(m, 0, "unknown", "other", NULL) == 5000 &&
		  limit_of(m, 0, "unknown", "app_rw", NULL) == 600000,
		  "the new default comes after the qualified rule", m ? m : "NULL");
	check(unasked < 0, "billing-api: no change unasked", m ? m : "NULL");
	free(m);

	/* billing-api with a suggestion: 30s -> 2s, app_rw's billing-api too */
	m = merge("billing-api=30s, * user app_rw=10min", LG_RULES_DURATION, 0,
			  billing, 1, 0, &unasked, &n);
	check(m != NULL && strcmp(m, "\"billing-api\"=2s, * user app_rw=10min") == 0,
		  "billing-api suggested: its rule replaced in its place", m ? m : "NULL");
	free(m);

	/* the anti-spoofing quota keeps web2 = 1 for every other role */
	m = merge("web2 user app2 = 20, web2 = 1", LG_RULES_COUNT, 0, web2, 1, 0,
			  &unasked, &n);
	check(m != NULL && strcmp(m, "web2 user app2 = 20, web2 = 1") == 0 && n == 0,
		  "web2 = 1 after web2 user app2 stays, no change", m ? m : "NULL");
	free(m);

	/* no own rule behind an exemption; a glob name gets none */
	{
		LgMergeApp	apps[] = {{"pg_dump", 5}, {"a*b", 7}, {"new", 8}};

		m = merge("pg_dump=0, *=1min", LG_RULES_DURATION, 0, apps, 3, 0,
				  &unasked, &n);
		check(m != NULL && strcmp(m, "pg_dump=0, \"new\"=8ms, *=1min") == 0,
			  "exemption and glob name: no rule; new one before *", m ? m : "NULL");
		free(m);
	}

	/* the same limit as now: nothing written */
	{
		LgMergeApp	apps[] = {{"web", 3000}};

		m = merge("web=3s", LG_RULES_DURATION, 0, apps, 1, 0, &unasked, &n);
		check(m != NULL && strcmp(m, "web=3s") == 0 && n == 0,
			  "a suggestion equal to the limit now changes nothing", m ? m : "NULL");
		free(m);
	}

	/* names that need quoting */
	{
		LgMergeApp	apps[] = {{"my \"app\", v2", 1000}, {"", 2000}};

		m = merge("", LG_RULES_DURATION, 0, apps, 2, 0, &unasked, &n);
		check(m != NULL && strcmp(m, "\"my \"\"app\"\", v2\"=1s, \"\"=2s") == 0 &&
			  limit_of(m, 0, "my \"app\", v2", NULL, NULL) == 1000 &&
			  limit_of(m, 0, "", NULL, NULL) == 2000,
			  "names quoted", m ? m : "NULL");
		free(m);
	}
}

/* xorshift64*: the same sequence on every platform */
static uint64_t rng_state = 88172645463325252ULL;

static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned) ((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static const char *const app_patterns[] = {
	"web", "web2", "billing-api", "*", "w*", "*api", "b?lling-api", "x",
	"*-*", "\"\"", "psql", "web?", "**", "\"a*b\"", "?"
};
static const char *const app_names[] = {
	"web", "web2", "billing-api", "x", "psql", "api", "a*b", "", "wx",
	"b-c", "billing_api", "z"
};
static const char *const role_patterns[] = {"app", "app2", "app_rw", "r*", "*", "a?p"};
static const char *const role_names[] = {"app", "app2", "app_rw", "r1", "bob", "axp"};
static const char *const db_patterns[] = {"postgres", "d1", "d*", "*"};
static const char *const db_names[] = {"postgres", "d1", "d2", "other"};

#define N(a) ((int) (sizeof(a) / sizeof((a)[0])))

static int64_t
random_value(LeakguardRuleKind kind, char *text, int *percent)
{
	static const int64_t durations[] = {0, 1, 9, 1000, 3000, 30000, 600000};
	static const int64_t counts[] = {0, 1, 2, 6, 20};

	*percent = 0;
	if (kind == LG_RULES_DURATION)
	{
		int64_t		v = durations[rnd(N(durations))];

		sprintf(text, "%lldms", (long long) v);
		return v;
	}
	else
	{
		int64_t		v = counts[rnd(N(counts))];

		if (rnd(4) == 0 && v > 0)
		{
			*percent = 1;
			sprintf(text, "%lld%%", (long long) v);
		}
		else
			sprintf(text, "%lld", (long long) v);
		return v;
	}
}

static void
property_case(int caseno)
{
	LeakguardRuleKind kind = rnd(3) == 0 ? LG_RULES_COUNT : LG_RULES_DURATION;
	char		text[2048] = "";
	char		value[32];
	int			pct;
	int			nrules = rnd(7);
	LgMergeApp	apps[N(app_names)];
	int			napps = 0;
	int64_t		dflt = (kind == LG_RULES_DURATION && rnd(2)) ? 5000 : 0;
	int64_t		dvalue = rnd(2) ? 0 : (kind == LG_RULES_DURATION ? 7000 : 4);
	LeakguardRuleSet *before;
	LeakguardRuleSet *after;
	char	   *merged;
	LgMergeCheck ck;
	char		detail[4096];
	int			i;
	int			u;
	int			d;

	for (i = 0; i < nrules; i++)
	{
		char	   *o = text + strlen(text);

		o += sprintf(o, "%s%s", i > 0 ? ", " : "", app_patterns[rnd(N(app_patterns))]);
		if (rnd(3) == 0)
			o += sprintf(o, " user %s", role_patterns[rnd(N(role_patterns))]);
		if (rnd(4) == 0)
			o += sprintf(o, " database %s", db_patterns[rnd(N(db_patterns))]);
		random_value(kind, value, &pct);
		sprintf(o, "=%s", value);
	}
	for (i = 0; i < N(app_names); i++)
		if (rnd(2))
		{
			apps[napps].name = app_names[i];
			apps[napps].value = rnd(3) == 0 ? 0 : random_value(kind, value, &pct);
			if (apps[napps].value == 0 && rnd(2))
				apps[napps].value = (kind == LG_RULES_DURATION) ? 3000 : 2;
			napps++;
		}

	before = parse(text, kind);
	if (before == NULL)
	{
		check(0, "random rules parse", text);
		return;
	}
	merged = lg_merge_setting(before, kind, dflt, apps, napps, dvalue);
	after = merged != NULL ? parse(merged, kind) : NULL;
	snprintf(detail, sizeof(detail), "case %d: '%s' -> '%s' (default %lld, * %lld)",
			 caseno, text, merged ? merged : "NULL", (long long) dflt,
			 (long long) dvalue);
	if (after == NULL || lg_merge_check(before, after, dflt, apps, napps,
										dvalue, &ck) != 0)
	{
		check(0, "the merged setting parses", detail);
		free(before);
		free(after);
		free(merged);
		return;
	}
	check(ck.unasked < 0, "no change that no suggestion asked for", detail);

	/* each application given its own rule has its suggestion */
	for (i = 0; i < napps; i++)
		if (lg_merge_classify(before, dflt, &apps[i]) == LG_MERGE_OWN)
		{
			int64_t		v;

			lg_merge_limit(after, dflt, apps[i].name, NULL, NULL, &v, &pct);
			if (v != apps[i].value || pct)
				check(0, "an application given its own rule has its suggestion", detail);
		}

	/* every changed (application, role, database) of the pool is listed */
	for (i = 0; i < N(app_names); i++)
		for (u = -1; u < N(role_names); u++)
			for (d = -1; d < N(db_names); d++)
			{
				const char *user = u >= 0 ? role_names[u] : NULL;
				const char *db = d >= 0 ? db_names[d] : NULL;
				int64_t		v0;
				int64_t		v1;
				int			p0;
				int			p1;
				int			app = -1;
				int			a;
				int			c;
				int			covered = 0;

				lg_merge_limit(before, dflt, app_names[i], user, db, &v0, &p0);
				lg_merge_limit(after, dflt, app_names[i], user, db, &v1, &p1);
				if (v0 == v1 && p0 == p1)
					continue;
				for (a = 0; a < napps; a++)
					if (strcmp(apps[a].name, app_names[i]) == 0)
						app = a;
				for (c = 0; c < ck.nchanges && !covered; c++)
				{
					const LgMergeChange *ch = &ck.changes[c];

					covered = ch->app == app &&
						(ch->user == NULL || (user != NULL && lg_glob_match(ch->user, user))) &&
						(ch->database == NULL || (db != NULL && lg_glob_match(ch->database, db))) &&
						ch->limit_now == v0 && ch->percent_now == p0 &&
						ch->limit_after == v1 && ch->percent_after == p1;
				}
				if (!covered)
				{
					char		who[sizeof(detail) + 256];

					snprintf(who, sizeof(who), "%s (app %s, user %s, db %s: %lld -> %lld)",
							 detail, app_names[i], user ? user : "-",
							 db ? db : "-", (long long) v0, (long long) v1);
					check(0, "a changed limit is listed", who);
				}
			}
	passed++;
	lg_merge_check_free(&ck);
	free(before);
	free(after);
	free(merged);
}

int
main(void)
{
	int			i;

	test_issue_cases();
	for (i = 0; i < PROPERTY_CASES; i++)
		property_case(i);
	printf("suggestmerge: %d passed, %d failed\n", passed, failed);
	return failed > 0;
}
