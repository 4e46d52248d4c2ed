/*-------------------------------------------------------------------------
 *
 * limits.c
 *		What applies to one session: its rules, its limits, its exemption.
 *
 * The worker and the SQL views both decide through these functions, so
 * leakguard.sessions shows exactly what the worker will do.  A session is
 * judged by its application_name, and, for rules qualified by role or
 * database, by its login role's and its database's names, which the caller
 * supplies (NULL: not known, and then no qualified rule applies).
 * A Citus internal connection is judged only by the rules that name it
 * (citus.c).  lg_kind_limit_for() is cheap and touches no catalog (the
 * worker calls it whenever a backend's application_name changes);
 * lg_role_exemption() reads pg_authid through the syscache and is called by
 * the worker only for a session that has reached its deadline, inside a
 * transaction, and by the sessions view for each row.
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kinds.h"
#include "leakguard.h"
#include "rules.h"
#include "sessionlimits.h"
#include "settings.h"
#include "stats.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/acl.h"

/* Copy a rule's text into a LG_RULE_TEXT_LEN buffer, marking a cut. */
void
lg_copy_rule_text(char *dst, const char *src)
{
	lg_copy_cut(dst, src, LG_RULE_TEXT_LEN);
}

/*
 * The first rule of "rules" that matches, or the default.  For a Citus
 * internal connection, the first rule that names it (a pattern other than
 * '*' alone), or no limit (citus.c).
 */
static void
lg_rules_limit(const LeakguardRuleSet *rules, int64 dflt,
			   const LeakguardWho *who, LeakguardLimit *limit)
{
	int			i;

	if (who->citus_internal)
	{
		i = lg_rules_match_named(rules, who->appname, who->usename,
								 who->datname);
		dflt = 0;
	}
	else
		i = lg_rules_match(rules, who->appname, who->usename, who->datname);

	limit->rule_index = i;
	limit->qualifiers = 0;
	if (i < 0)
	{
		limit->value = dflt;
		limit->rule[0] = '\0';
	}
	else
	{
		limit->value = rules->rules[i].value;
		lg_copy_rule_text(limit->rule, lg_rule_source(rules, i));
		if (lg_rule_user(rules, i) != NULL)
			limit->qualifiers |= LG_QUOTA_BY_USER;
		if (lg_rule_database(rules, i) != NULL)
			limit->qualifiers |= LG_QUOTA_BY_DATABASE;
	}
}

/* Whether any rule setting has a rule qualified by role or database. */
bool
lg_rules_qualified(void)
{
	for (int k = 0; k < LG_NUM_KINDS; k++)
		if (lg_kind_rules[k] != NULL && lg_kind_rules[k]->qualified)
			return true;
	return false;
}

/* The limit of one kind on sessions (lg_kinds[]) for a session. */
void
lg_kind_limit_for(int kind, const LeakguardWho *who, LeakguardLimit *limit)
{
	Assert(lg_kinds[kind].session);
	lg_rules_limit(lg_kind_rules[kind], lg_kind_limit[kind], who,
				   limit);
}

/*
 * The connection quota of a session, as a number of connections
 * (value holds it; 0: no quota).  A percentage is of max_connections,
 * rounded down, and at least 1 when it is not 0.
 */
void
lg_connection_limit_for(const LeakguardWho *who, LeakguardLimit *limit)
{
	lg_rules_limit(lg_kind_rules[LG_KIND_CONNECTIONS], 0, who, limit);
	if (limit->rule_index >= 0 &&
		lg_kind_rules[LG_KIND_CONNECTIONS]->rules[limit->rule_index].percent &&
		limit->value > 0)
		limit->value = Max(1, limit->value * MaxConnections / 100);
}

/*
 * The identity of the connection rules lg_connection_limit_for() judges
 * by, for the quota counts, which are keyed by rule index (quotacount.c):
 * a hash of what decides which rule matches a connection and whether it
 * counts (every rule's patterns and value), 0 when there is no rule set.
 * The same setting gives the same identity in every backend.
 */
static uint64
lg_hash_string(uint64 h, const char *str)
{
	if (str == NULL)
		return hash_combine64(h, 0);
	return hash_combine64(h, hash_bytes_extended((const unsigned char *) str,
												 (int) strlen(str), 1));
}

uint64
lg_quota_rules_id(void)
{
	const LeakguardRuleSet *rules = lg_kind_rules[LG_KIND_CONNECTIONS];
	uint64		h;

	if (rules == NULL)
		return 0;
	h = hash_combine64(1, (uint64) rules->nrules);
	for (int i = 0; i < rules->nrules; i++)
	{
		h = lg_hash_string(h, lg_rule_pattern(rules, i));
		h = lg_hash_string(h, lg_rule_user(rules, i));
		h = lg_hash_string(h, lg_rule_database(rules, i));
		h = hash_combine64(h, (uint64) rules->rules[i].value);
		h = hash_combine64(h, (uint64) rules->rules[i].percent);
	}
	return h | 1;
}

/* The shorter of two limits, where 0 is no limit. */
static int64
lg_shorter(int64 shortest, int64 limit)
{
	return (limit > 0 && (shortest == 0 || limit < shortest)) ? limit : shortest;
}

/* The shortest limit of one kind, over its rules and default; 0: none. */
int64
lg_kind_shortest_ms(int kind)
{
	const LeakguardRuleSet *set = lg_kind_rules[kind];
	int64		shortest = lg_shorter(0, lg_kind_limit[kind]);

	for (int i = 0; set != NULL && i < set->nrules; i++)
		shortest = lg_shorter(shortest, set->rules[i].value);
	return shortest;
}

/*
 * The shortest limit of every rule and default of the kinds of limit on
 * sessions measured in time, those whose periods happen only in a
 * transaction block included or not; 0 when there is none.  The worker
 * scans at least twice within it (worker.c).
 */
int64
lg_shortest_limit_ms(bool in_block)
{
	int64		shortest = 0;

	for (int k = 0; k < LG_NUM_KINDS; k++)
		if (lg_kinds[k].session && lg_kinds[k].measure != LG_MEASURE_XID_AGE &&
			(in_block || !lg_kinds[k].in_block))
			shortest = lg_shorter(shortest, lg_kind_shortest_ms(k));
	return shortest;
}

/*
 * Whether a role's sessions are protected whatever their limit.  Needs a
 * transaction (syscache on pg_authid).
 */
LeakguardExempt
lg_role_exemption(Oid roleid)
{
	char	   *rolname = GetUserNameFromId(roleid, true);

	if (rolname != NULL && lg_role_name_exempt(rolname))
		return LG_EXEMPT_ROLE;
	if (!lg_terminate_superusers && superuser_arg(roleid))
		return LG_EXEMPT_SUPERUSER;
	return LG_EXEMPT_NONE;
}

const char *
lg_exempt_name(LeakguardExempt exempt)
{
	switch (exempt)
	{
		case LG_EXEMPT_NONE:
			return NULL;
		case LG_EXEMPT_NO_LIMIT:
			return "no limit";
		case LG_EXEMPT_RULE:
			return "rule";
		case LG_EXEMPT_ROLE:
			return "role";
		case LG_EXEMPT_SUPERUSER:
			return "superuser";
	}
	return NULL;
}

const char *
lg_action_name(int action)
{
	switch ((LeakguardAction) action)
	{
		case LG_ACTION_TERMINATED:
			return "terminated";
		case LG_ACTION_DRY_RUN:
			return "dry_run";
		case LG_ACTION_BECAME_ACTIVE:
			return "became active";
		case LG_ACTION_GONE:
			return "gone";
		case LG_ACTION_SUPERUSER:
			return "superuser";
		case LG_ACTION_REFUSED:
			return "refused";
		case LG_ACTION_CANCELLED:
			return "cancelled";
	}
	return "unknown";
}

/* "90 s", "5 min", "250 ms": the largest unit that divides the value. */
char *
lg_format_duration_ms(int64 ms)
{
	if (ms != 0 && ms % (24 * 3600 * 1000) == 0)
		return psprintf(INT64_FORMAT " d", ms / (24 * 3600 * 1000));
	if (ms != 0 && ms % (3600 * 1000) == 0)
		return psprintf(INT64_FORMAT " h", ms / (3600 * 1000));
	if (ms != 0 && ms % (60 * 1000) == 0)
		return psprintf(INT64_FORMAT " min", ms / (60 * 1000));
	if (ms != 0 && ms % 1000 == 0)
		return psprintf(INT64_FORMAT " s", ms / 1000);
	return psprintf(INT64_FORMAT " ms", ms);
}

/*
 * A limit of kind k as leakguard writes it, by its measure: "5 s",
 * "100000 transactions", "20 connections".  In the current context.
 */
char *
lg_kind_limit_text(int kind, int64 value)
{
	switch (lg_kinds[kind].measure)
	{
		case LG_MEASURE_XID_AGE:
			return psprintf(INT64_FORMAT " transactions", value);
		case LG_MEASURE_CONNECTIONS:
			return psprintf(INT64_FORMAT " connections", value);
		case LG_MEASURE_TIME:
		case LG_MEASURE_BLOCKED:
			break;
	}
	return lg_format_duration_ms(value);
}
