/*-------------------------------------------------------------------------
 *
 * sessionlimits.h
 *		What applies to one session: who it is, the limit of each kind, its
 *		exemption (limits.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SESSIONLIMITS_H
#define LEAKGUARD_SESSIONLIMITS_H

#include "leakguard.h"

/* Why a session will never be terminated. */
typedef enum LeakguardExempt
{
	LG_EXEMPT_NONE,
	LG_EXEMPT_NO_LIMIT,			/* no rule matched and the default is 0 */
	LG_EXEMPT_RULE,				/* the matching rule says 0 */
	LG_EXEMPT_ROLE,				/* leakguard.exempt_roles */
	LG_EXEMPT_SUPERUSER			/* superuser, terminate_superusers off */
} LeakguardExempt;

/*
 * Who a session is, as the rules see it: its application_name (as the
 * server stores it), and the names of its login role and database, NULL
 * where not known (a rule qualified by role or database then never
 * applies); and whether it is a Citus internal connection, to which only
 * the rules that name it apply, not the defaults nor a rule of '*' alone
 * (lg_citus_kind(appname) != LG_CITUS_NONE, computed once per name).
 */
typedef struct LeakguardWho
{
	const char *appname;
	const char *usename;
	const char *datname;
	bool		citus_internal;
} LeakguardWho;

/* What a quota rule counts by, besides the application name. */
#define LG_QUOTA_BY_USER		1
#define LG_QUOTA_BY_DATABASE	2

/* The limit that applies to a session. */
typedef struct LeakguardLimit
{
	int			rule_index;		/* -1: no rule matched, the default applies */
	int			qualifiers;		/* LG_QUOTA_BY_* the matching rule names */
	int64		value;			/* 0: no limit; else in the unit of the kind:
								 * ms, transactions, or connections */
	char		rule[LG_RULE_TEXT_LEN]; /* the rule's text, "" for default */
} LeakguardLimit;

/* limits.c */
extern bool lg_rules_qualified(void);
extern void lg_kind_limit_for(int kind, const LeakguardWho *who,
							  LeakguardLimit *limit);
extern void lg_connection_limit_for(const LeakguardWho *who, LeakguardLimit *limit);
extern uint64 lg_quota_rules_id(void);

extern int64 lg_shortest_limit_ms(bool in_block);
extern int64 lg_kind_shortest_ms(int kind);
extern LeakguardExempt lg_role_exemption(Oid roleid);
extern const char *lg_exempt_name(LeakguardExempt exempt);
extern const char *lg_action_name(int action);
extern char *lg_format_duration_ms(int64 ms);
extern char *lg_kind_limit_text(int kind, int64 value);
extern void lg_copy_rule_text(char *dst, const char *src);

#endif							/* LEAKGUARD_SESSIONLIMITS_H */
