/*-------------------------------------------------------------------------
 *
 * rules.h
 *		The rule language of application_timeouts, application_idle_timeouts
 *		and application_connection_limits: parse and match.
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
 *		rule     := pattern [ qualifier [ qualifier ] ] '=' value
 *		qualifier := 'user' pattern | 'database' pattern    (each at most once)
 *		pattern  := bare | quoted
 *		bare     := one or more characters other than , = " and whitespace
 *		quoted   := '"' ( any character but '"' | '""' )* '"'
 *		duration := digits [ unit ]      unit := ms | s | min | h | d
 *		limit    := digits [ '%' ]        (connection limits: LG_RULES_COUNT)
 *		age      := digits                (xmin age limits: LG_RULES_XID_AGE)
 *
 * A pattern is a glob on application_name: '*' matches any run of bytes,
 * '?' exactly one byte; every other byte matches itself.  Rules are tried in
 * order and the first match wins.  A value of 0 exempts the application.
 *
 * A rule may be qualified (from version 1.2): "user ROLE" and "database DB"
 * are globs of the same form on the session's login role and database, and
 * a qualified rule applies only to a session that matches every part.  The
 * keywords are case-insensitive.  In 1.1 an unquoted word after a pattern
 * was an error, so every valid 1.1 setting keeps its meaning.  Role and
 * database names are stored by the server as given (no cleaning), so their
 * patterns keep every byte as a literal.
 *
 * The server does not store application_name as the client sent it: bytes
 * outside printable ASCII become '?' (PostgreSQL 15) or "\xNN" (16 and
 * later).  So that a rule written with the name an application sets governs
 * it, the parser stores each pattern the way the server stores names
 * (LeakguardNameStyle), with the replaced bytes as literals, never as
 * wildcards.  Internally a stored pattern uses '\' to mark the next byte
 * literal; the pattern text a user writes has no escape character.
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

/* Largest connection limit: PostgreSQL's MAX_BACKENDS. */
#define LG_RULE_MAX_CONNECTIONS	262143

/* Largest xmin age limit, in transactions: below wraparound's 2^31. */
#define LG_RULE_MAX_XID_AGE		2000000000

/* Room for an error message produced by lg_rules_parse(). */
#define LG_RULE_ERROR_SIZE	256

/* What the value of a rule is. */
typedef enum LeakguardRuleKind
{
	LG_RULES_DURATION,			/* a duration, stored in ms */
	LG_RULES_COUNT,				/* a number of connections, or a percentage */
	LG_RULES_XID_AGE			/* a number of transactions */
} LeakguardRuleKind;

/* How the running server stores bytes outside printable ASCII in names. */
typedef enum LeakguardNameStyle
{
	LG_NAMES_QMARK,				/* each such byte becomes '?' (15) */
	LG_NAMES_HEX				/* each such byte becomes "\xNN" (16 on) */
} LeakguardNameStyle;

/* Worst-case growth of a name or pattern cleaned in LG_NAMES_HEX style. */
#define LG_CLEAN_GROWTH		4

typedef struct LeakguardRule
{
	uint32_t	pattern_off;	/* unquoted pattern, from the block start */
	uint32_t	user_off;		/* role pattern, likewise; 0: any role */
	uint32_t	database_off;	/* database pattern, likewise; 0: any */
	uint32_t	source_off;		/* the rule as written, likewise */
	int64_t		value;			/* ms, connections or percent; 0 = exempt */
	int			percent;		/* LG_RULES_COUNT: value is a percentage */
} LeakguardRule;

typedef struct LeakguardRuleSet
{
	size_t		size;			/* bytes of the whole block */
	int			nrules;
	int			qualified;		/* some rule names a role or a database */
	LeakguardRule rules[];		/* followed by the string area */
} LeakguardRuleSet;

/*
 * Parse "text" into one malloc()ed LeakguardRuleSet of values of "kind",
 * storing patterns as names are stored in "style".  On success returns
 * the set (nrules may be 0).  On a syntax error returns NULL and writes a
 * message naming the rule and the character position into errbuf.  On allocation failure returns
 * NULL with an empty errbuf.
 */
extern LeakguardRuleSet *lg_rules_parse(const char *text,
										LeakguardRuleKind kind,
										LeakguardNameStyle style,
										char *errbuf, size_t errbuf_size);

/*
 * Write "src" into dst as the server stores an application_name in
 * "style" (before it is cut to NAMEDATALEN - 1 bytes).  dst must hold
 * LG_CLEAN_GROWTH * strlen(src) + 1 bytes.  Returns the length written.
 */
extern size_t lg_clean_name(char *dst, const char *src,
							LeakguardNameStyle style);

/*
 * Find the first rule that matches a session of application appname, login
 * role usename and database datname.  A rule qualified by role (database)
 * matches only when usename (datname) is given, not NULL, and matches.
 * Returns the rule's index, or -1 when none matches (or rules is NULL).
 */
extern int	lg_rules_match(const LeakguardRuleSet *rules, const char *appname,
						   const char *usename, const char *datname);

/*
 * As lg_rules_match(), but a rule whose pattern is '*' alone (or several
 * '*' and nothing else), which matches every name without naming any, is
 * passed over whatever its qualifiers: the rules that name the application
 * explicitly.  Returns the rule's index, or -1.
 */
extern int	lg_rules_match_named(const LeakguardRuleSet *rules,
								 const char *appname, const char *usename,
								 const char *datname);

/*
 * The unquoted pattern, the role and database patterns (NULL when the rule
 * has none), and the source text of rule i.
 */
extern const char *lg_rule_pattern(const LeakguardRuleSet *rules, int i);
extern const char *lg_rule_user(const LeakguardRuleSet *rules, int i);
extern const char *lg_rule_database(const LeakguardRuleSet *rules, int i);
extern const char *lg_rule_source(const LeakguardRuleSet *rules, int i);

/*
 * Glob match of a NUL-terminated name against a NUL-terminated pattern in
 * the stored form ('\' makes the next byte literal).
 */
extern int	lg_glob_match(const char *pattern, const char *name);

/*
 * Whether a stored pattern is made of '*' alone, and so matches every name
 * without naming any.
 */
extern int	lg_pattern_any(const char *pattern);

#endif							/* LEAKGUARD_RULES_H */
