/*-------------------------------------------------------------------------
 *
 * fuzz_rules.c
 *		libFuzzer target for the application_timeouts parser and matcher.
 *
 * Besides crashes, leaks and sanitizer reports, it checks what every
 * accepted rule set must satisfy:
 *	- offsets and strings stay inside the block, timeouts inside 0..365 d;
 *	- the rules' own source texts, joined with commas, parse again into the
 *	  same patterns and timeouts (the stored text is faithful);
 *	- a rejected string always comes with a message naming a rule;
 *	- the glob matcher agrees with a dynamic-programming reference;
 *	- any name without wildcards, written as a quoted pattern, matches
 *	  that name as the server stores it, in both storage styles.
 *
 *-------------------------------------------------------------------------
 */
#include "rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
			abort(); \
		} \
	} while (0)

/*
 * Reference matcher: dynamic programming over (pattern, name) prefixes,
 * obviously correct and O(n * m).  m[i][j]: the first i pattern tokens
 * match name[0..j).  A token is '*', '?', a literal byte, or a byte made
 * literal by '\\'; a '\\' at the very end matches nothing.
 */
#define REF_MAX 64

enum
{
	TOK_LITERAL, TOK_ANY, TOK_STAR, TOK_NEVER
};

static int
reference_glob(const char *p, const char *s)
{
	static unsigned char m[REF_MAX + 1][REF_MAX + 1];
	int			kind[REF_MAX];
	char		lit[REF_MAX];
	size_t		np = 0;
	size_t		ns = strlen(s);
	size_t		i;
	size_t		j;

	for (; *p != '\0'; p++, np++)
	{
		lit[np] = *p;
		if (*p == '*')
			kind[np] = TOK_STAR;
		else if (*p == '?')
			kind[np] = TOK_ANY;
		else if (*p != '\\')
			kind[np] = TOK_LITERAL;
		else if (p[1] == '\0')
			kind[np] = TOK_NEVER;
		else
		{
			kind[np] = TOK_LITERAL;
			lit[np] = *++p;
		}
	}

	memset(m, 0, sizeof(m));
	m[0][0] = 1;
	for (i = 1; i <= np; i++)
		for (j = 0; j <= ns; j++)
		{
			if (kind[i - 1] == TOK_STAR)
				m[i][j] = m[i - 1][j] || (j > 0 && m[i][j - 1]);
			else if (j > 0 && (kind[i - 1] == TOK_ANY ||
							   (kind[i - 1] == TOK_LITERAL && lit[i - 1] == s[j - 1])))
				m[i][j] = m[i - 1][j - 1];
		}
	return m[np][ns];
}

/*
 * A name written as a quoted rule pattern governs the application that
 * sets it: the pattern matches the name as the server stores it.
 */
static void
check_literal_name(const char *name, LeakguardNameStyle style)
{
	size_t		len = strlen(name);
	char	   *rule = malloc(2 * len + 8);
	char	   *cleaned = malloc(LG_CLEAN_GROWTH * len + 1);
	char		err[LG_RULE_ERROR_SIZE];
	char	   *o = rule;
	const char *c;
	LeakguardRuleSet *set;

	CHECK(rule != NULL && cleaned != NULL);
	*o++ = '"';
	for (c = name; *c != '\0'; c++)
	{
		if (*c == '"')
			*o++ = '"';
		*o++ = *c;
	}
	strcpy(o, "\"=1s");
	set = lg_rules_parse(rule, LG_RULES_DURATION, style, err, sizeof(err));
	CHECK(set != NULL && set->nrules == 1);
	CHECK(lg_clean_name(cleaned, name, style) <= LG_CLEAN_GROWTH * len);
	CHECK(lg_rules_match(set, cleaned, NULL, NULL) == 0);
	free(set);
	free(cleaned);
	free(rule);
}

static void
check_set(const LeakguardRuleSet *set, LeakguardRuleKind kind,
		  LeakguardNameStyle style)
{
	size_t		joined_len = 1;
	char	   *joined;
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *again;
	int			i;

	CHECK(set->nrules >= 0);
	for (i = 0; i < set->nrules; i++)
	{
		const LeakguardRule *r = &set->rules[i];

		CHECK(r->pattern_off < set->size && r->source_off < set->size);
		CHECK(r->user_off < set->size && r->database_off < set->size);
		CHECK(r->user_off == 0 ||
			  memchr((const char *) set + r->user_off, '\0',
					 set->size - r->user_off) != NULL);
		CHECK(r->database_off == 0 ||
			  memchr((const char *) set + r->database_off, '\0',
					 set->size - r->database_off) != NULL);
		CHECK(set->qualified || (r->user_off == 0 && r->database_off == 0));
		CHECK(memchr((const char *) set + r->pattern_off, '\0',
					 set->size - r->pattern_off) != NULL);
		CHECK(memchr((const char *) set + r->source_off, '\0',
					 set->size - r->source_off) != NULL);
		CHECK(r->value >= 0 &&
			  r->value <= (kind == LG_RULES_COUNT ? (r->percent ? 100 : LG_RULE_MAX_CONNECTIONS) :
						   kind == LG_RULES_XID_AGE ? LG_RULE_MAX_XID_AGE :
						   LG_RULE_MAX_TIMEOUT_MS));
		CHECK(r->percent == 0 || kind == LG_RULES_COUNT);
		joined_len += strlen(lg_rule_source(set, i)) + 1;
	}

	joined = malloc(joined_len);
	CHECK(joined != NULL);
	joined[0] = '\0';
	for (i = 0; i < set->nrules; i++)
	{
		if (i > 0)
			strcat(joined, ",");
		strcat(joined, lg_rule_source(set, i));
	}
	again = lg_rules_parse(joined, kind, style, err, sizeof(err));
	CHECK(again != NULL);
	CHECK(again->nrules == set->nrules);
	for (i = 0; i < set->nrules; i++)
	{
		CHECK(strcmp(lg_rule_pattern(again, i), lg_rule_pattern(set, i)) == 0);
		CHECK((lg_rule_user(again, i) == NULL) == (lg_rule_user(set, i) == NULL));
		CHECK(lg_rule_user(set, i) == NULL ||
			  strcmp(lg_rule_user(again, i), lg_rule_user(set, i)) == 0);
		CHECK((lg_rule_database(again, i) == NULL) == (lg_rule_database(set, i) == NULL));
		CHECK(lg_rule_database(set, i) == NULL ||
			  strcmp(lg_rule_database(again, i), lg_rule_database(set, i)) == 0);
		CHECK(again->rules[i].value == set->rules[i].value);
		CHECK(again->rules[i].percent == set->rules[i].percent);
	}
	free(again);
	free(joined);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set;
	LeakguardNameStyle style;
	LeakguardRuleKind kind;
	char	   *nl;

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	style = (size & 1) ? LG_NAMES_QMARK : LG_NAMES_HEX;
	kind = (size & 2) ? LG_RULES_COUNT :
		(size & 4) ? LG_RULES_XID_AGE : LG_RULES_DURATION;
	set = lg_rules_parse(text, kind, style, err, sizeof(err));
	if (set != NULL)
	{
		check_set(set, kind, style);
		(void) lg_rules_match(set, text, NULL, NULL);
		(void) lg_rules_match(set, "", text, text);
		(void) lg_rules_match(set, text, "", NULL);
		free(set);
	}
	else
	{
		CHECK(strncmp(err, "rule ", 5) == 0);
		CHECK(strstr(err, " at character ") != NULL);
	}

	/* any name without wildcards, quoted, governs itself as stored */
	if (strpbrk(text, "*?") == NULL && size <= 256)
	{
		check_literal_name(text, LG_NAMES_QMARK);
		check_literal_name(text, LG_NAMES_HEX);
	}

	/* "pattern\nname": the matcher against the naive one */
	nl = strchr(text, '\n');
	if (nl != NULL && size <= REF_MAX)
	{
		*nl = '\0';
		CHECK(lg_glob_match(text, nl + 1) == reference_glob(text, nl + 1));
	}

	free(text);
	return 0;
}
