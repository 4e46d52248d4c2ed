/*-------------------------------------------------------------------------
 *
 * test_rules.c
 *		Unit tests of the rule parser (with its role and database
 *		qualifiers) and the glob matcher.
 *
 * Built with AddressSanitizer and UBSan; no PostgreSQL needed.  Each check
 * prints a line on failure; the last line is "N passed, M failed".
 *
 *-------------------------------------------------------------------------
 */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	passed;
static int	failed;

static void
check(int ok, const char *what, const char *input)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s: [%s]\n", what, input);
	}
}

/* Parsed in "style", the rules match appname with rule want (-1: none). */
static void
expect_styled(const char *rules, LeakguardNameStyle style, const char *appname,
			  int want)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_DURATION, style, err, sizeof(err));

	check(set != NULL, "parses", rules);
	if (set == NULL)
		return;
	check(lg_rules_match(set, appname, NULL, NULL) == want, "matching rule (styled)", appname);
	free(set);
}

/* name, cleaned as the server stores it in style, is want */
static void
expect_clean(const char *name, LeakguardNameStyle style, const char *want)
{
	char		buf[256];

	check(lg_clean_name(buf, name, style) == strlen(want) &&
		  strcmp(buf, want) == 0, "cleaned name", name);
}

/* Connection limits: appname matches rule want, with value and percent. */
static void
expect_count(const char *rules, const char *appname, int want,
			 long long want_value, int want_percent)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_COUNT, LG_NAMES_HEX,
										   err, sizeof(err));
	int			got;

	check(set != NULL, "parses (count)", rules);
	if (set == NULL)
	{
		printf("  error: %s\n", err);
		return;
	}
	got = lg_rules_match(set, appname, NULL, NULL);
	check(got == want, "matching rule (count)", appname);
	if (got >= 0 && want >= 0)
		check(set->rules[got].value == want_value &&
			  set->rules[got].percent == want_percent, "limit", rules);
	free(set);
}

static void
expect_count_error(const char *rules, const char *want)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_COUNT, LG_NAMES_HEX,
										   err, sizeof(err));

	check(set == NULL, "rejected (count)", rules);
	free(set);
	check(set != NULL || strstr(err, want) != NULL, "error message (count)", rules);
	if (set == NULL && strstr(err, want) == NULL)
		printf("  got: %s\n  want: %s\n", err, want);
}

/* xmin age limits: the rules parse to want_value, or fail with want_error. */
static void
expect_xid_age(const char *rules, long long want_value, const char *want_error)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_XID_AGE, LG_NAMES_HEX,
										   err, sizeof(err));

	if (want_error == NULL)
		check(set != NULL && set->nrules >= 1 &&
			  set->rules[0].value == want_value && set->rules[0].percent == 0,
			  "xmin age limit", rules);
	else
	{
		check(set == NULL && strstr(err, want_error) != NULL,
			  "xmin age limit rejected", rules);
		if (set != NULL || strstr(err, want_error) == NULL)
			printf("  got: %s\n  want: %s\n", set ? "(parsed)" : err, want_error);
	}
	free(set);
}

/* The rules parse, and appname matches rule number want (-1: none). */
static void
expect_match(const char *rules, const char *appname, int want, long long want_ms)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_DURATION, LG_NAMES_QMARK, err, sizeof(err));
	int			got;

	check(set != NULL, "parses", rules);
	if (set == NULL)
	{
		printf("  error: %s\n", err);
		return;
	}
	got = lg_rules_match(set, appname, NULL, NULL);
	check(got == want, "matching rule", appname);
	if (got >= 0 && want >= 0)
		check(set->rules[got].value == want_ms, "timeout", appname);
	free(set);
}

/* The rules are rejected with a message containing want. */
static void
expect_error(const char *rules, const char *want)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_DURATION, LG_NAMES_QMARK, err, sizeof(err));

	check(set == NULL, "rejected", rules);
	if (set != NULL)
	{
		free(set);
		return;
	}
	check(strstr(err, want) != NULL, "error message", rules);
	if (strstr(err, want) == NULL)
		printf("  got: %s\n  want: %s\n", err, want);
}

static void
expect_source(const char *rules, int i, const char *pattern, const char *source)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_DURATION, LG_NAMES_QMARK, err, sizeof(err));

	check(set != NULL && i < set->nrules, "parses", rules);
	if (set == NULL || i >= set->nrules)
	{
		free(set);
		return;
	}
	check(strcmp(lg_rule_pattern(set, i), pattern) == 0, "pattern", rules);
	check(strcmp(lg_rule_source(set, i), source) == 0, "source", rules);
	free(set);
}

/*
 * The rules parse, and a session of appname, usename and datname (either
 * may be NULL: not given) matches rule number want (-1: none).
 */
static void
expect_who(const char *rules, const char *appname, const char *usename,
		   const char *datname, int want)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_COUNT, LG_NAMES_HEX,
										   err, sizeof(err));

	check(set != NULL, "parses (qualified)", rules);
	if (set == NULL)
	{
		printf("  error: %s\n", err);
		return;
	}
	check(lg_rules_match(set, appname, usename, datname) == want,
		  "matching rule (qualified)", rules);
	free(set);
}

/*
 * The rules parse, and lg_rules_match_named() (which passes over patterns
 * of '*' alone) finds rule number want (-1: none) for the session.
 */
static void
expect_named(const char *rules, const char *appname, const char *usename,
			 int want)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_DURATION, LG_NAMES_HEX,
										   err, sizeof(err));

	check(set != NULL, "parses (named)", rules);
	if (set == NULL)
		return;
	check(lg_rules_match_named(set, appname, usename, NULL) == want,
		  "matching rule (named)", rules);
	free(set);
}

/* Rule i of the rules has these role and database patterns (NULL: none). */
static void
expect_qualifiers(const char *rules, int i, const char *user, const char *db)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set = lg_rules_parse(rules, LG_RULES_DURATION, LG_NAMES_HEX,
										   err, sizeof(err));
	const char *u;
	const char *d;

	check(set != NULL && i < set->nrules, "parses (qualifiers)", rules);
	if (set == NULL || i >= set->nrules)
	{
		free(set);
		return;
	}
	u = lg_rule_user(set, i);
	d = lg_rule_database(set, i);
	check((user == NULL ? u == NULL : (u != NULL && strcmp(u, user) == 0)) &&
		  (db == NULL ? d == NULL : (d != NULL && strcmp(d, db) == 0)),
		  "qualifier patterns", rules);
	check(set->qualified == (user != NULL || db != NULL) || set->nrules > 1,
		  "qualified flag", rules);
	free(set);
}

int
main(void)
{
	char	   *big;
	size_t		i;
	LeakguardRuleSet *set;
	char		err[LG_RULE_ERROR_SIZE];

	/* empty and blank strings are no rules */
	expect_match("", "x", -1, 0);
	expect_match("   ", "x", -1, 0);
	check(lg_rules_match(NULL, "x", "u", "d") == -1, "NULL rule set", "");
	check(lg_rules_match_named(NULL, "x", "u", "d") == -1, "NULL rule set (named)", "");

	/* rules that name an application: any pattern but '*' alone */
	expect_named("*=1s", "citus_internal gpid=1", NULL, -1);
	expect_named("**=1s, ***=2s", "citus_internal gpid=1", NULL, -1);
	expect_named("\"*\"=1s", "citus_internal gpid=1", NULL, -1);
	expect_named("* user app=1s", "citus_internal gpid=1", "app", -1);
	expect_named("*=1s, citus_*=2s", "citus_internal gpid=1", NULL, 1);
	expect_named("*=1s, c*=2s", "citus_internal gpid=1", NULL, 1);
	expect_named("*=1s, *internal*=2s", "citus_internal gpid=1", NULL, 1);
	expect_named("citus_* user app=0, citus_*=2s", "citus_internal gpid=1", "app", 0);
	expect_named("citus_* user app=0, citus_*=2s", "citus_internal gpid=1", "other", 1);
	expect_named("citus_* user app=0, citus_*=2s", "citus_internal gpid=1", NULL, 1);
	expect_named("web*=1s, *=2s", "citus_internal gpid=1", NULL, -1);
	expect_named("*?=1s", "citus_internal gpid=1", NULL, 0);

	/* units */
	expect_match("a=5", "a", 0, 5);
	expect_match("a=5ms", "a", 0, 5);
	expect_match("a=5s", "a", 0, 5000);
	expect_match("a=5 s", "a", 0, 5000);
	expect_match("a=2min", "a", 0, 120000);
	expect_match("a=3h", "a", 0, 3 * 3600000LL);
	expect_match("a=1d", "a", 0, 86400000LL);
	expect_match("a=365d", "a", 0, 365 * 86400000LL);
	expect_match("a=0", "a", 0, 0);

	/* globs */
	expect_match("web*=1s", "web", 0, 1000);
	expect_match("web*=1s", "webapp", 0, 1000);
	expect_match("web*=1s", "myweb", -1, 0);
	expect_match("*web*=1s", "myweb2", 0, 1000);
	expect_match("job?\?=1s", "job12", 0, 1000);
	expect_match("job?\?=1s", "job1", -1, 0);
	expect_match("job?\?=1s", "job123", -1, 0);
	expect_match("a*b*c=1s", "aXbYbZc", 0, 1000);
	expect_match("a*b*c=1s", "aXbYbZ", -1, 0);
	expect_match("*=1s", "", 0, 1000);
	expect_match("**=1s", "anything", 0, 1000);
	check(lg_glob_match("*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 0,
		  "pathological glob", "");

	/* quoting */
	expect_match("\"my app\"=30s", "my app", 0, 30000);
	expect_match("\"a,b=c\"=5s", "a,b=c", 0, 5000);
	expect_match("\"say \"\"hi\"\"\"=7s", "say \"hi\"", 0, 7000);
	expect_match("\"\"=2h", "", 0, 7200000);
	expect_match("\"\"=2h", "x", -1, 0);
	expect_match("\"my*\"=1s", "my app", 0, 1000);

	/*
	 * Names as the server stores them: bytes outside printable ASCII become
	 * '?' (15) or \xNN (16 on), and a pattern written with the name matches
	 * the stored form, with those bytes as literals.
	 */
	expect_clean("h\xc3\xa9llo", LG_NAMES_QMARK, "h??llo");
	expect_clean("h\xc3\xa9llo", LG_NAMES_HEX, "h\\xc3\\xa9llo");
	expect_clean("tab\there\x7f", LG_NAMES_HEX, "tab\\x09here\\x7f");
	expect_clean("plain ~ ascii", LG_NAMES_HEX, "plain ~ ascii");
	expect_styled("\"h\xc3\xa9llo\"=2s", LG_NAMES_QMARK, "h??llo", 0);
	expect_styled("\"h\xc3\xa9llo\"=2s", LG_NAMES_QMARK, "habllo", -1);
	expect_styled("h\xc3\xa9llo=2s", LG_NAMES_QMARK, "h??llo", 0);
	expect_styled("\"h\xc3\xa9llo\"=2s", LG_NAMES_HEX, "h\\xc3\\xa9llo", 0);
	expect_styled("\"h\xc3\xa9llo\"=2s", LG_NAMES_HEX, "h??llo", -1);
	expect_styled("h\xc3\xa9*=2s", LG_NAMES_HEX, "h\\xc3\\xa9llo", 0);
	expect_styled("h?llo=2s", LG_NAMES_HEX, "hallo", 0);
	expect_styled("a\\b=1s", LG_NAMES_HEX, "a\\b", 0);
	expect_styled("a\\b=1s", LG_NAMES_HEX, "aXb", -1);
	expect_styled("a\\*=1s", LG_NAMES_QMARK, "a\\anything", 0);
	check(lg_glob_match("abc\\", "abc") == 0, "a trailing escape matches nothing", "");

	/* connection limits: counts and percentages, no units */
	expect_count("route_builder=10", "route_builder", 0, 10, 0);
	expect_count("route*=10 %, *=50", "route_x", 0, 10, 1);
	expect_count("route*=10%, *=50", "web", 1, 50, 0);
	expect_count("a=0", "a", 0, 0, 0);
	expect_count("a=262143", "a", 0, 262143, 0);
	expect_count("a=100%", "a", 0, 100, 1);
	expect_count_error("a=262144", "exceeds the maximum of 262143");
	expect_count_error("a=101%", "cannot exceed 100%");
	expect_count_error("a=5s", "takes no unit");
	expect_count_error("a=-1", "cannot be negative");
	expect_count_error("a=1.5", "whole number");
	expect_count_error("a=", "expected a connection limit");
	expect_count_error("a", "expected \"=\" and a connection limit");
	expect_count_error("a=5% b=1", "unexpected \"b\" after the connection limit");

	/* xmin age limits: numbers of transactions, no unit, no percentage */
	expect_xid_age("etl*=1000000, *=0", 1000000, NULL);
	expect_xid_age("a = 2000000000 ", 2000000000, NULL);
	expect_xid_age("a=2000000001", 0, "exceeds the maximum of 2000000000 transactions");
	expect_xid_age("a=10%", 0, "with no unit");
	expect_xid_age("a=5s", 0, "with no unit");
	expect_xid_age("a=-1", 0, "expected an xmin age limit");
	expect_xid_age("a", 0, "expected \"=\" and an xmin age limit");

	/* first match wins, whitespace is free */
	expect_match(" batch-* = 10min , batch-nightly=1s ", "batch-nightly", 0, 600000);
	expect_match("batch-nightly=1s, batch-*=10min", "batch-nightly", 0, 1000);
	expect_match("a=1,b=2,c=3", "c", 2, 3);

	/* the stored text of each rule */
	expect_source(" web* = 1 min ,x=1", 0, "web*", "web* = 1 min");
	expect_source("\"a\"\"b\"=1s", 0, "a\"b", "\"a\"\"b\"=1s");
	expect_source("a=5 , b=2", 0, "a", "a=5");

	/* errors name the rule, the position and the problem */
	expect_error("a=5x", "rule 1 (\"a=5x\") at character 4: unknown unit \"x\"");
	expect_error("a=5s,,b=1", "rule 2 (\"\") at character 6: empty rule");
	expect_error("a=5s,", "rule 2 (\"\") at character 6: empty rule");
	expect_error(",a=5s", "rule 1 (\"\") at character 1: empty rule");
	expect_error("my app=5s", "rule 1 (\"my app=5s\") at character 4: expected \"=\"");
	expect_error("a=-1", "a duration cannot be negative");
	expect_error("a=1.5s", "must be a whole number");
	expect_error("a=", "expected a duration");
	expect_error("a", "expected \"=\" and a duration");
	expect_error("=5s", "missing application name pattern");
	expect_error("\"abc=5", "unterminated double quote");
	expect_error("ab\"c=5", "a double quote may only enclose");
	expect_error("a=5s b=3", "unexpected \"b\" after the duration");
	expect_error("a=366d", "exceeds the maximum of 365 days");
	expect_error("a=99999999999999999999999", "exceeds the maximum");
	expect_error("a=5S", "unknown unit \"S\"");
	expect_error("ok=1s, bad=1x", "rule 2 (\"bad=1x\") at character 13");

	/*
	 * Qualifiers: "user ROLE" and "database DB" pin a rule to login roles
	 * and databases; a qualified rule matches only when every part matches,
	 * and only when the name it needs is given.  First match still wins.
	 */
	expect_qualifiers("pg_dump user backup = 0", 0, "backup", NULL);
	expect_qualifiers("* database analytics = 5min", 0, NULL, "analytics");
	expect_qualifiers("a USER u DATABASE d = 1s", 0, "u", "d");
	expect_qualifiers("a database d user u = 1s", 0, "u", "d");
	expect_qualifiers("\"my app\" user \"Weird Role\" = 1s", 0, "Weird Role", NULL);
	expect_qualifiers("a user \"x\"\"y\" = 1s", 0, "x\"y", NULL);
	expect_qualifiers("a user r\xc3\xa9le = 1s", 0, "r\xc3\xa9le", NULL);
	expect_qualifiers("a user a\\b = 1s", 0, "a\\\\b", NULL);
	expect_qualifiers("user = 1s", 0, NULL, NULL);
	expect_qualifiers("user user user = 1s", 0, "user", NULL);
	expect_qualifiers("a=1s", 0, NULL, NULL);
	expect_who("pg_dump user backup = 0, * = 5", "pg_dump", "backup", "db", 0);
	expect_who("pg_dump user backup = 0, * = 5", "pg_dump", "intruder", "db", 1);
	expect_who("pg_dump user backup = 0, * = 5", "pg_dump", NULL, NULL, 1);
	expect_who("billing-api user billing_rw = 20, billing-api = 2", "billing-api", "billing_rw", "x", 0);
	expect_who("billing-api user billing_rw = 20, billing-api = 2", "billing-api", "lg_intruder", "x", 1);
	expect_who("* database analytics = 5, * = 1", "psql", "u", "analytics", 0);
	expect_who("* database analytics = 5, * = 1", "psql", "u", "analytics2", 1);
	expect_who("* database analytics* = 5, * = 1", "psql", "u", "analytics2", 0);
	expect_who("a user u database d = 5", "a", "u", "d", 0);
	expect_who("a user u database d = 5", "a", "u", "e", -1);
	expect_who("a user u database d = 5", "a", "v", "d", -1);
	expect_who("a user u database d = 5", "a", "u", NULL, -1);
	expect_who("a user etl_? = 5", "a", "etl_1", NULL, 0);
	expect_who("a user etl_? = 5", "a", "etl_12", NULL, -1);
	expect_who("a user r\xc3\xa9le = 5", "a", "r\xc3\xa9le", NULL, 0);
	expect_who("a user r\xc3\xa9le = 5", "a", "r\\xc3\\xa9le", NULL, -1);
	expect_who("a user \"\" = 5", "a", "", NULL, 0);
	expect_who("a user \"\" = 5", "a", "x", NULL, -1);
	expect_error("a user = 5s", "rule 1 (\"a user = 5s\") at character 8: expected a role name pattern after \"user\"");
	expect_error("a database, b=1", "expected a database name pattern after \"database\"");
	expect_error("a user u user v = 5s", "at character 10: \"user\" is given twice in one rule");
	expect_error("a database d DATABASE e = 5s", "\"database\" is given twice in one rule");
	expect_error("a user u x = 5s", "at character 10: expected \"=\" after the role name pattern");
	expect_error("a database d", "expected \"=\" and a duration after the database name pattern");
	expect_error("a users u = 5s", "at character 3: expected \"=\" after the application name pattern");
	expect_error("a user=5s", "at character 7: expected a role name pattern after \"user\"");
	expect_error("a user u\"v\" = 5s", "a double quote may only enclose the whole role name");
	expect_error("a user \"u = 5s", "unterminated double quote");
	expect_source("a user u database d = 1 min, b=1", 0, "a", "a user u database d = 1 min");
	expect_count_error("a user = 5", "expected a role name pattern");

	/*
	 * 1.1 settings keep their meaning: unquoted words after a pattern were
	 * an error, and every valid 1.1 rule parses as it did, unqualified.
	 */
	expect_qualifiers("\"user\"=1s, \"database\"=2s", 1, NULL, NULL);
	expect_who("\"a user b\" = 5", "a user b", NULL, NULL, 0);

	/* an error excerpt is cut */
	expect_error("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1x", "...\")");

	/* a tiny error buffer is never overrun */
	set = lg_rules_parse("a=1x", LG_RULES_DURATION, LG_NAMES_QMARK, err, 8);
	check(set == NULL && strlen(err) == 7, "small error buffer", "a=1x");

	/* thousands of rules */
	big = malloc(5000 * 16);
	big[0] = '\0';
	for (i = 0; i < 5000; i++)
		sprintf(big + strlen(big), "%sapp%zu=%zus", i ? "," : "", i, i + 1);
	set = lg_rules_parse(big, LG_RULES_DURATION, LG_NAMES_QMARK, err, sizeof(err));
	check(set != NULL && set->nrules == 5000, "5000 rules", "");
	if (set != NULL)
	{
		int			m = lg_rules_match(set, "app4999", NULL, NULL);

		check(m == 4999 && set->rules[m].value == 5000000, "last of 5000 rules", "");
		free(set);
	}
	free(big);

	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
