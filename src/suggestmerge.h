/*-------------------------------------------------------------------------
 *
 * suggestmerge.h
 *		Suggested limits merged into a rule setting without changing what
 *		nobody asked to change, and the check of what a merged setting
 *		changes.
 *
 * Rules are first-match, so where a suggested rule goes decides what it
 * changes.  lg_merge_setting() writes each suggested rule "name"=value just
 * before the first unqualified rule that governs that application today
 * (at the end when none does), so that the rules before it, the DBA's
 * exemptions and qualified rules among them, keep every session they
 * catch.  An application gets no rule of its own when the rule that
 * governs it says 0 (an exemption), or when that rule names it exactly and
 * qualified rules of the same name precede it (it is the deliberate rule
 * for every other role and database), or when its name holds a wildcard.
 * A suggested default is written as "*"=value in place of the first
 * unqualified rule of '*' alone (at the end when there is none), never
 * when that rule says 0.  A rule that the merge leaves unreachable (an
 * unqualified rule naming exactly an application just given its own, an
 * unqualified '*' rule after the new one) is left out; every other rule is
 * kept as written, in its order.
 *
 * lg_merge_check() then compares the limit before and after for every
 * application observed (and for one that no rule names) under every role
 * and database a qualifier names (and one none names), lists what changes,
 * and says whether a change is one no suggestion asked for.  The caller
 * emits a setting only when none is.
 *
 * Plain C, like rules.h: no PostgreSQL header, no server call, so that it
 * is unit-tested (test/unit) and fuzzed (test/fuzz) alone.  Results are
 * malloc()ed.
 *
 * Shared state: none.  Every function is reentrant.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SUGGESTMERGE_H
#define LEAKGUARD_SUGGESTMERGE_H

#include "rules.h"

/* An application observed, and the limit suggested for it. */
typedef struct LgMergeApp
{
	const char *name;			/* as the server stores it */
	int64_t		value;			/* ms or connections; 0: no suggestion */
} LgMergeApp;

/* Whether an application gets a rule of its own, or why not. */
typedef enum LgMergeWhy
{
	LG_MERGE_OWN,				/* it does */
	LG_MERGE_NO_VALUE,			/* nothing is suggested for it */
	LG_MERGE_SAME,				/* the suggestion is its limit now */
	LG_MERGE_EXEMPT,			/* the rule that governs it says 0 */
	LG_MERGE_OTHER_ROLES,		/* the rule that governs it names it exactly,
								 * after qualified rules of the same name: the
								 * rule for every other role and database */
	LG_MERGE_GLOB_NAME			/* its name holds '*' or '?', so a pattern of
								 * it would match other names too */
} LgMergeWhy;

/*
 * The first unqualified rule that matches an application (name NULL: one
 * that no rule names, matched by rules of '*' alone), or -1: the default
 * setting governs its sessions that no qualified rule catches.
 */
extern int	lg_merge_governing(const LeakguardRuleSet *rules, const char *name);

/* Whether app gets a rule of its own (LG_MERGE_OWN), or why not. */
extern LgMergeWhy lg_merge_classify(const LeakguardRuleSet *rules, int64_t dflt,
									const LgMergeApp *app);

/*
 * Whether the sessions of an application (NULL: one no rule names) that no
 * qualified rule catches are governed by the default: no rule names it, or
 * the first that matches is of '*' alone.
 */
extern int	lg_merge_by_default(const LeakguardRuleSet *rules, const char *name);

/*
 * Whether a suggested default may be written: no unqualified rule of '*'
 * alone exempts every application the default would govern.
 */
extern int	lg_merge_default_open(const LeakguardRuleSet *rules);

/*
 * The limit of a session (app NULL: of an application no rule names; user
 * and database NULL: names no qualifier matches): returns the index of the
 * rule, or -1 for the default dflt, and its value and percent flag.
 */
extern int	lg_merge_limit(const LeakguardRuleSet *rules, int64_t dflt,
						   const char *app, const char *user,
						   const char *database, int64_t *value, int *percent);

/*
 * The new value of a rule setting of values of "kind" (see the header):
 * rules (NULL: none) with the suggestions of apps[0 .. napps - 1] that
 * lg_merge_classify() accepts, and "*"=default_value if default_value is
 * not 0 and lg_merge_default_open().  Returns a malloc()ed string, or NULL
 * when out of memory.
 */
extern char *lg_merge_setting(const LeakguardRuleSet *rules,
							  LeakguardRuleKind kind, int64_t dflt,
							  const LgMergeApp *apps, int napps,
							  int64_t default_value);

/* One limit that changes. */
typedef struct LgMergeChange
{
	int			app;			/* index into apps; -1: an application no
								 * rule names */
	const char *user;			/* a role a qualifier names (its pattern);
								 * NULL: one that no qualifier names */
	const char *database;		/* likewise */
	int			rule_now;		/* index in before; -1: the default */
	int			rule_after;		/* index in after; -1: the default */
	int64_t		limit_now;
	int64_t		limit_after;
	int			percent_now;
	int			percent_after;
	int			asked;			/* a suggestion asked for this change */
} LgMergeChange;

typedef struct LgMergeCheck
{
	int			nchanges;
	LgMergeChange *changes;
	int			unasked;		/* index of the first change no suggestion
								 * asked for; -1: none */
	char	   *names;			/* the qualifier names, one block */
} LgMergeCheck;

/*
 * What after (the parse of lg_merge_setting()'s result for the same
 * arguments) changes against before, both with the default dflt.  Returns
 * 0, or -1 when out of memory.  Free the result with lg_merge_check_free().
 */
extern int	lg_merge_check(const LeakguardRuleSet *before,
						   const LeakguardRuleSet *after, int64_t dflt,
						   const LgMergeApp *apps, int napps,
						   int64_t default_value, LgMergeCheck *out);
extern void lg_merge_check_free(LgMergeCheck *check);

#endif							/* LEAKGUARD_SUGGESTMERGE_H */
