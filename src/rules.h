/*-------------------------------------------------------------------------
 *
 * rules.h
 *		The application_timeouts rule language: parse and match.
 *
 * This interface is plain C on purpose: it includes no PostgreSQL header and
 * calls no server function, so the parser and matcher can be unit-tested and
 * fuzzed outside the server (test/unit, test/fuzz).  A parsed rule set is one
 * malloc()ed block, which is exactly what a GUC check hook must hand over as
 * its "extra" (the GUC machinery releases it with free()).
 *
 * Grammar (whitespace around every token is ignored):
 *
 *		rules    := '' | rule ( ',' rule )*
 *		rule     := pattern '=' duration
 *		pattern  := bare | quoted
 *		bare     := one or more characters other than , = " and whitespace
 *		quoted   := '"' ( any character but '"' | '""' )* '"'
 *		duration := digits [ unit ]      unit := ms | s | min | h | d
 *
 * A pattern is a glob on application_name: '*' matches any run of bytes,
 * '?' exactly one byte; every other byte matches itself.  Rules are tried in
 * order and the first match wins.  A duration of 0 exempts the application.
 *
 * Shared state: none.  Every function is reentrant.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_RULES_H
#define LEAKGUARD_RULES_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted duration: one year, in milliseconds. */
#define LG_RULE_MAX_TIMEOUT_MS	((int64_t) 365 * 24 * 60 * 60 * 1000)

/* Room for an error message produced by lg_rules_parse(). */
#define LG_RULE_ERROR_SIZE	256

typedef struct LeakguardRule
{
	uint32_t	pattern_off;	/* unquoted pattern, from the block start */
	uint32_t	source_off;		/* the rule as written, likewise */
	int64_t		timeout_ms;		/* 0 = exempt */
} LeakguardRule;

typedef struct LeakguardRuleSet
{
	size_t		size;			/* bytes of the whole block */
	int			nrules;
	LeakguardRule rules[];		/* followed by the string area */
} LeakguardRuleSet;

/*
 * Parse "text" into one malloc()ed LeakguardRuleSet.  On success returns the
 * set (nrules may be 0).  On a syntax error returns NULL and writes a message
 * naming the rule and the character position into errbuf.  On allocation
 * failure returns NULL with an empty errbuf.
 */
extern LeakguardRuleSet *lg_rules_parse(const char *text,
										char *errbuf, size_t errbuf_size);

/*
 * Find the first rule whose pattern matches appname.  Returns its index, or
 * -1 when none matches (or rules is NULL).
 */
extern int	lg_rules_match(const LeakguardRuleSet *rules, const char *appname);

/* The unquoted pattern and the source text of rule i. */
extern const char *lg_rule_pattern(const LeakguardRuleSet *rules, int i);
extern const char *lg_rule_source(const LeakguardRuleSet *rules, int i);

/* Glob match of a NUL-terminated name against a NUL-terminated pattern. */
extern int	lg_glob_match(const char *pattern, const char *name);

#endif							/* LEAKGUARD_RULES_H */
