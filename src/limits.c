/*-------------------------------------------------------------------------
 *
 * limits.c
 *		What applies to one session: its rule, its timeout, its exemption.
 *
 * The worker and the SQL views both decide through these functions, so
 * leakguard.sessions shows exactly what the worker will do.  lg_limit_for()
 * is cheap and touches no catalog (the worker calls it whenever a backend's
 * application_name changes); lg_role_exemption() reads pg_authid through the
 * syscache and is called by the worker only for a session that has reached
 * its deadline, inside a transaction.
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "miscadmin.h"
#include "utils/acl.h"

/* Copy a rule's text into a LG_RULE_TEXT_LEN buffer, marking a cut. */
void
lg_copy_rule_text(char *dst, const char *src)
{
	size_t		len = strlen(src);

	if (len < LG_RULE_TEXT_LEN)
		memcpy(dst, src, len + 1);
	else
	{
		memcpy(dst, src, LG_RULE_TEXT_LEN - 4);
		strcpy(dst + LG_RULE_TEXT_LEN - 4, "...");
	}
}

void
lg_limit_for(const char *appname, LeakguardLimit *limit)
{
	int			i = lg_rules_match(lg_rules, appname);

	limit->rule_index = i;
	if (i < 0)
	{
		limit->timeout_ms = lg_default_timeout_ms;
		limit->rule[0] = '\0';
	}
	else
	{
		limit->timeout_ms = lg_rules->rules[i].timeout_ms;
		lg_copy_rule_text(limit->rule, lg_rule_source(lg_rules, i));
	}
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
