/*-------------------------------------------------------------------------
 *
 * suggestmerge.c
 *		Suggested limits merged into a rule setting, and the check of what
 *		the merged setting changes (see suggestmerge.h for the rules of the
 *		merge).
 *
 * The merge only ever inserts unqualified rules that name one application
 * exactly, each just before the first unqualified rule that matched that
 * application, and one "*" rule in place of the first unqualified rule of
 * '*' alone; it removes only rules that its insertions leave unreachable.
 * So a session's limit can change only if it is a session of an
 * application given its own rule, or one the default governs, and no
 * qualified rule before the insertion catches it.  lg_merge_check() does
 * not rely on that argument: it compares the limits before and after, and
 * the property test (test/unit/test_suggestmerge.c) compares them for
 * roles, databases and applications the check never saw.
 *
 * No PostgreSQL header is included and no server function is called.
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "suggestmerge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"

/* Whether a stored pattern has no wildcard, and so names one name. */
static int
lg_merge_pattern_literal(const char *pattern)
{
	for (; *pattern != '\0'; pattern++)
	{
		if (*pattern == '\\' && pattern[1] != '\0')
			pattern++;
		else if (*pattern == '*' || *pattern == '?')
			return 0;
	}
	return 1;
}

/* A stored pattern without its escapes: a name it matches. */
static char *
lg_merge_unescape(char *dst, const char *pattern)
{
	for (; *pattern != '\0'; pattern++)
	{
		if (*pattern == '\\' && pattern[1] != '\0')
			pattern++;
		*dst++ = *pattern;
	}
	*dst++ = '\0';
	return dst;
}

static int
lg_merge_qualified(const LeakguardRuleSet *rules, int i)
{
	return lg_rule_user(rules, i) != NULL || lg_rule_database(rules, i) != NULL;
}

/* The first unqualified rule of '*' alone, or -1. */
static int
lg_merge_star(const LeakguardRuleSet *rules)
{
	int			i;

	for (i = 0; rules != NULL && i < rules->nrules; i++)
		if (!lg_merge_qualified(rules, i) &&
			lg_pattern_any(lg_rule_pattern(rules, i)))
			return i;
	return -1;
}

int
lg_merge_limit(const LeakguardRuleSet *rules, int64_t dflt, const char *app,
			   const char *user, const char *database, int64_t *value,
			   int *percent)
{
	int			i;

	for (i = 0; rules != NULL && i < rules->nrules; i++)
	{
		const char *pattern = lg_rule_pattern(rules, i);
		const char *u = lg_rule_user(rules, i);
		const char *d = lg_rule_database(rules, i);

		if (app != NULL ? !lg_glob_match(pattern, app) :
			!lg_pattern_any(pattern))
			continue;
		if (u != NULL && (user == NULL || !lg_glob_match(u, user)))
			continue;
		if (d != NULL && (database == NULL || !lg_glob_match(d, database)))
			continue;
		*value = rules->rules[i].value;
		*percent = rules->rules[i].percent;
		return i;
	}
	*value = dflt;
	*percent = 0;
	return -1;
}

int
lg_merge_governing(const LeakguardRuleSet *rules, const char *name)
{
	int			i;

	for (i = 0; rules != NULL && i < rules->nrules; i++)
		if (!lg_merge_qualified(rules, i) &&
			(name != NULL ? lg_glob_match(lg_rule_pattern(rules, i), name) :
			 lg_pattern_any(lg_rule_pattern(rules, i))))
			return i;
	return -1;
}

int
lg_merge_by_default(const LeakguardRuleSet *rules, const char *name)
{
	int			k = lg_merge_governing(rules, name);

	return k < 0 || lg_pattern_any(lg_rule_pattern(rules, k));
}

int
lg_merge_default_open(const LeakguardRuleSet *rules)
{
	int			star = lg_merge_star(rules);

	return star < 0 || rules->rules[star].value != 0;
}

LgMergeWhy
lg_merge_classify(const LeakguardRuleSet *rules, int64_t dflt,
				  const LgMergeApp *app)
{
	int			k;
	int			q;
	int64_t		now;
	int			percent;

	if (app->value == 0)
		return LG_MERGE_NO_VALUE;
	if (strpbrk(app->name, "*?") != NULL)
		return LG_MERGE_GLOB_NAME;
	k = lg_merge_governing(rules, app->name);
	if (k >= 0 && rules->rules[k].value == 0)
		return LG_MERGE_EXEMPT;
	if (k >= 0 && lg_merge_pattern_literal(lg_rule_pattern(rules, k)))
		for (q = 0; q < k; q++)
			if (lg_merge_qualified(rules, q) &&
				strcmp(lg_rule_pattern(rules, q), lg_rule_pattern(rules, k)) == 0)
				return LG_MERGE_OTHER_ROLES;
	if (k >= 0)
	{
		now = rules->rules[k].value;
		percent = rules->rules[k].percent;
	}
	else
	{
		now = dflt;
		percent = 0;
	}
	if (now == app->value && !percent)
		return LG_MERGE_SAME;
	return LG_MERGE_OWN;
}

/* Append ", " unless at the start, then the rule "pattern"=value. */
static char *
lg_merge_put_rule(char *o, const char *start, const char *name,
				  LeakguardRuleKind kind, int64_t value)
{
	char		buf[64];

	if (o != start)
	{
		*o++ = ',';
		*o++ = ' ';
	}
	if (name == NULL)
		*o++ = '*';
	else
	{
		*o++ = '"';
		for (; *name != '\0'; name++)
		{
			if (*name == '"')
				*o++ = '"';
			*o++ = *name;
		}
		*o++ = '"';
	}
	if (kind == LG_RULES_DURATION)
		lg_format_ms(buf, sizeof(buf), value);
	else
		snprintf(buf, sizeof(buf), "%lld", (long long) value);
	o += sprintf(o, "=%s", buf);
	return o;
}

char *
lg_merge_setting(const LeakguardRuleSet *rules, LeakguardRuleKind kind,
				 int64_t dflt, const LgMergeApp *apps, int napps,
				 int64_t default_value)
{
	int			nrules = (rules != NULL) ? rules->nrules : 0;
	int			star = lg_merge_star(rules);
	int			write_default = default_value != 0 && lg_merge_default_open(rules);
	int			default_at = (star >= 0) ? star : nrules;
	int		   *at;
	char	   *removed;
	char	   *text;
	char	   *o;
	size_t		size = 1;
	int			i;
	int			r;

	at = malloc(sizeof(int) * (napps > 0 ? napps : 1));
	removed = calloc(nrules > 0 ? nrules : 1, 1);
	if (at == NULL || removed == NULL)
	{
		free(at);
		free(removed);
		return NULL;
	}

	/* where each application's own rule goes; -1: it gets none */
	for (i = 0; i < napps; i++)
	{
		at[i] = -1;
		if (lg_merge_classify(rules, dflt, &apps[i]) != LG_MERGE_OWN)
			continue;
		at[i] = lg_merge_governing(rules, apps[i].name);
		if (at[i] < 0)
			at[i] = nrules;
		else if (!lg_merge_qualified(rules, at[i]) &&
				 lg_merge_pattern_literal(lg_rule_pattern(rules, at[i])))
			removed[at[i]] = 1; /* it named this application alone */
		size += 2 * strlen(apps[i].name) + 64;
	}
	if (write_default)
	{
		if (star >= 0)
			removed[star] = 1;
		size += 64;
	}
	for (r = 0; r < nrules; r++)
		size += strlen(lg_rule_source(rules, r)) + 2;

	text = malloc(size);
	if (text == NULL)
	{
		free(at);
		free(removed);
		return NULL;
	}
	o = text;
	for (r = 0; r <= nrules; r++)
	{
		for (i = 0; i < napps; i++)
			if (at[i] == r)
				o = lg_merge_put_rule(o, text, apps[i].name, kind, apps[i].value);
		if (write_default && r == default_at)
			o = lg_merge_put_rule(o, text, NULL, kind, default_value);
		if (r < nrules && !removed[r])
		{
			if (o != text)
			{
				*o++ = ',';
				*o++ = ' ';
			}
			strcpy(o, lg_rule_source(rules, r));
			o += strlen(o);
		}
	}
	*o = '\0';
	free(at);
	free(removed);
	return text;
}

/* Collect the names the qualifiers of a rule set name (user or database). */
static int
lg_merge_names(const LeakguardRuleSet *rules, int database, const char **names,
			   int n, char **store)
{
	int			i;
	int			j;

	for (i = 0; rules != NULL && i < rules->nrules; i++)
	{
		const char *pattern = database ? lg_rule_database(rules, i) :
			lg_rule_user(rules, i);
		char	   *name = *store;

		if (pattern == NULL)
			continue;
		*store = lg_merge_unescape(name, pattern);
		for (j = 0; j < n; j++)
			if (names[j] != NULL && strcmp(names[j], name) == 0)
				break;
		if (j < n)
			*store = name;		/* seen already: give the room back */
		else
			names[n++] = name;
	}
	return n;
}

/* Whether the change for app (index; -1: no rule names it) was asked for. */
static int
lg_merge_asked(const LeakguardRuleSet *before, int64_t dflt,
			   const LgMergeApp *apps, int app, int64_t default_value,
			   const LgMergeChange *c)
{
	if (c->percent_after)
		return 0;
	if (app >= 0 && lg_merge_classify(before, dflt, &apps[app]) == LG_MERGE_OWN)
		return c->limit_after == apps[app].value;
	if (default_value != 0 && lg_merge_default_open(before) &&
		lg_merge_by_default(before, app >= 0 ? apps[app].name : NULL))
		return c->limit_after == default_value;
	return 0;
}

int
lg_merge_check(const LeakguardRuleSet *before, const LeakguardRuleSet *after,
			   int64_t dflt, const LgMergeApp *apps, int napps,
			   int64_t default_value, LgMergeCheck *out)
{
	size_t		room = 1;
	const char **users;
	const char **databases;
	char	   *store;
	int			nusers = 0;
	int			ndatabases = 0;
	int			maxchanges = 0;
	int			a;
	int			u;
	int			d;

	memset(out, 0, sizeof(*out));
	out->unasked = -1;
	if (before != NULL)
		room += before->size;
	if (after != NULL)
		room += after->size;
	out->names = malloc(room);
	users = malloc(sizeof(char *) * (room + 1));
	databases = malloc(sizeof(char *) * (room + 1));
	if (out->names == NULL || users == NULL || databases == NULL)
		goto oom;
	store = out->names;
	users[nusers++] = NULL;
	databases[ndatabases++] = NULL;
	nusers = lg_merge_names(before, 0, users, nusers, &store);
	nusers = lg_merge_names(after, 0, users, nusers, &store);
	ndatabases = lg_merge_names(before, 1, databases, ndatabases, &store);
	ndatabases = lg_merge_names(after, 1, databases, ndatabases, &store);

	for (a = -1; a < napps; a++)
		for (u = 0; u < nusers; u++)
			for (d = 0; d < ndatabases; d++)
			{
				const char *name = (a >= 0) ? apps[a].name : NULL;
				LgMergeChange c;

				memset(&c, 0, sizeof(c));
				c.app = a;
				c.user = users[u];
				c.database = databases[d];
				c.rule_now = lg_merge_limit(before, dflt, name, c.user,
											c.database, &c.limit_now,
											&c.percent_now);
				c.rule_after = lg_merge_limit(after, dflt, name, c.user,
											  c.database, &c.limit_after,
											  &c.percent_after);
				if (c.limit_now == c.limit_after &&
					c.percent_now == c.percent_after)
					continue;
				c.asked = lg_merge_asked(before, dflt, apps, a, default_value, &c);
				if (out->nchanges == maxchanges)
				{
					LgMergeChange *grown;

					maxchanges = maxchanges * 2 + 16;
					grown = realloc(out->changes, sizeof(LgMergeChange) * maxchanges);
					if (grown == NULL)
						goto oom;
					out->changes = grown;
				}
				if (!c.asked && out->unasked < 0)
					out->unasked = out->nchanges;
				out->changes[out->nchanges++] = c;
			}
	free(users);
	free(databases);
	return 0;

oom:
	free(users);
	free(databases);
	lg_merge_check_free(out);
	return -1;
}

void
lg_merge_check_free(LgMergeCheck *check)
{
	free(check->changes);
	free(check->names);
	check->changes = NULL;
	check->names = NULL;
	check->nchanges = 0;
}
