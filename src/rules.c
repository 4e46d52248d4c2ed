/*-------------------------------------------------------------------------
 *
 * rules.c
 *		Parser and matcher of leakguard's rule settings
 *		(application_timeouts, application_idle_timeouts and
 *		application_transaction_timeouts: durations;
 *		application_connection_limits: counts and percentages;
 *		application_xmin_age_limits: numbers of transactions).
 *
 * The parser walks the string once and writes the whole result into a single
 * malloc()ed block sized from an upper bound computed beforehand, so there is
 * no reallocation and nothing to clean up on an error but that one block.
 * Every error names the rule (by number and text) and the character position
 * where parsing stopped, because that is what an operator needs to fix a
 * postgresql.conf line.
 *
 * No PostgreSQL header is included and no server function is called: see
 * rules.h.  Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define LG_PRINTF_FORMAT(f, a) __attribute__((format(printf, f, a)))
#else
#define LG_PRINTF_FORMAT(f, a)
#endif

/* How much of a bad rule is quoted back in an error message. */
#define LG_RULE_EXCERPT_MAX 40

typedef struct LgParser
{
	const char *text;
	size_t		len;
	size_t		pos;
	char	   *errbuf;
	size_t		errbuf_size;
	int			ruleno;			/* 1-based number of the rule being parsed */
	size_t		rule_start;		/* where that rule begins in text */
} LgParser;

static int
lg_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

static void
lg_skip_space(LgParser *ps)
{
	while (ps->pos < ps->len && lg_is_space(ps->text[ps->pos]))
		ps->pos++;
}

static void lg_parse_error(LgParser *ps, size_t at, const char *fmt,...)
			LG_PRINTF_FORMAT(3, 4);

/*
 * Write "rule N ("excerpt") at character P: <message>" into errbuf.
 * The excerpt runs from the start of the rule to the next comma.
 */
static void
lg_parse_error(LgParser *ps, size_t at, const char *fmt,...)
{
	char		detail[LG_RULE_ERROR_SIZE];
	size_t		end = ps->rule_start;
	size_t		excerpt_len;
	va_list		ap;

	if (ps->errbuf == NULL || ps->errbuf_size == 0)
		return;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);

	while (end < ps->len && ps->text[end] != ',')
		end++;
	while (end > ps->rule_start && lg_is_space(ps->text[end - 1]))
		end--;
	excerpt_len = end - ps->rule_start;

	if (excerpt_len > LG_RULE_EXCERPT_MAX)
		snprintf(ps->errbuf, ps->errbuf_size,
				 "rule %d (\"%.*s...\") at character %zu: %s",
				 ps->ruleno, LG_RULE_EXCERPT_MAX, ps->text + ps->rule_start,
				 at + 1, detail);
	else
		snprintf(ps->errbuf, ps->errbuf_size,
				 "rule %d (\"%.*s\") at character %zu: %s",
				 ps->ruleno, (int) excerpt_len, ps->text + ps->rule_start,
				 at + 1, detail);
}

static int
lg_is_clean(unsigned char c)
{
	return c >= 32 && c <= 126;
}

size_t
lg_clean_name(char *dst, const char *src, LeakguardNameStyle style)
{
	static const char hex[] = "0123456789abcdef";
	char	   *o = dst;

	for (; *src != '\0'; src++)
	{
		unsigned char c = (unsigned char) *src;

		if (lg_is_clean(c))
			*o++ = (char) c;
		else if (style == LG_NAMES_QMARK)
			*o++ = '?';
		else
		{
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0x0f];
		}
	}
	*o = '\0';
	return (size_t) (o - dst);
}

/*
 * Append one pattern byte in stored form: '*' and '?' stay wildcards, a
 * backslash becomes a literal backslash, and a byte the server would not
 * store as is becomes what it stores, as literals.  Patterns of role and
 * database names ("raw") keep every byte: the server stores those as given.
 */
static char *
lg_put_pattern_byte(char *o, unsigned char c, LeakguardNameStyle style, int raw)
{
	char		cleaned[LG_CLEAN_GROWTH + 1];
	char		one[2] = {(char) c, '\0'};
	size_t		i;
	size_t		n;

	if (c == '\\')
	{
		*o++ = '\\';
		*o++ = '\\';
		return o;
	}
	if (raw || lg_is_clean(c))
	{
		*o++ = (char) c;
		return o;
	}
	n = lg_clean_name(cleaned, one, style);
	for (i = 0; i < n; i++)
	{
		if (cleaned[i] == '?' || cleaned[i] == '\\')
			*o++ = '\\';
		*o++ = cleaned[i];
	}
	return o;
}

/*
 * Parse the pattern at ps->pos, appending it in stored form and a NUL to
 * *out; "what" names it in messages.  Returns 0 on success.
 */
static int
lg_parse_pattern(LgParser *ps, LeakguardNameStyle style, int raw,
				 const char *what, char **out)
{
	char	   *o = *out;

	if (ps->text[ps->pos] == '"')
	{
		size_t		open = ps->pos;

		ps->pos++;
		for (;;)
		{
			if (ps->pos >= ps->len)
			{
				lg_parse_error(ps, open, "unterminated double quote");
				return -1;
			}
			if (ps->text[ps->pos] == '"')
			{
				if (ps->pos + 1 < ps->len && ps->text[ps->pos + 1] == '"')
				{
					*o++ = '"';
					ps->pos += 2;
					continue;
				}
				ps->pos++;
				break;
			}
			o = lg_put_pattern_byte(o, (unsigned char) ps->text[ps->pos++], style, raw);
		}
	}
	else
	{
		while (ps->pos < ps->len)
		{
			char		c = ps->text[ps->pos];

			if (c == ',' || c == '=' || lg_is_space(c))
				break;
			if (c == '"')
			{
				lg_parse_error(ps, ps->pos,
							   "a double quote may only enclose the whole %s", what);
				return -1;
			}
			o = lg_put_pattern_byte(o, (unsigned char) c, style, raw);
			ps->pos++;
		}
	}
	*o++ = '\0';
	*out = o;
	return 0;
}

/* Whether the len bytes at s are the lower-case ASCII word "word", in any case. */
static int
lg_is_keyword(const char *s, size_t len, const char *word)
{
	size_t		i;

	if (strlen(word) != len)
		return 0;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (c != word[i])
			return 0;
	}
	return 1;
}

/*
 * Parse the qualifiers that may follow a rule's pattern, "user ROLE" and
 * "database DB", each at most once, storing their patterns (raw) after *out.
 * Stops before anything else, which the caller then judges; *last names
 * what was parsed last, for its message.  Returns 0 on success.
 */
static int
lg_parse_qualifiers(LgParser *ps, LeakguardRuleSet *set, LeakguardRule *rule,
					char **out, const char **last)
{
	for (;;)
	{
		size_t		word_start;
		size_t		word_len;
		int			is_user;
		uint32_t   *off;

		lg_skip_space(ps);
		word_start = ps->pos;
		while (ps->pos < ps->len &&
			   ((ps->text[ps->pos] >= 'a' && ps->text[ps->pos] <= 'z') ||
				(ps->text[ps->pos] >= 'A' && ps->text[ps->pos] <= 'Z')))
			ps->pos++;
		word_len = ps->pos - word_start;
		is_user = lg_is_keyword(ps->text + word_start, word_len, "user");
		if ((!is_user && !lg_is_keyword(ps->text + word_start, word_len, "database")) ||
			(ps->pos < ps->len && !lg_is_space(ps->text[ps->pos]) &&
			 ps->text[ps->pos] != '"' && ps->text[ps->pos] != ',' &&
			 ps->text[ps->pos] != '='))
		{
			ps->pos = word_start;
			return 0;
		}

		off = is_user ? &rule->user_off : &rule->database_off;
		if (*off != 0)
		{
			lg_parse_error(ps, word_start, "\"%s\" is given twice in one rule",
						   is_user ? "user" : "database");
			return -1;
		}
		lg_skip_space(ps);
		if (ps->pos >= ps->len || ps->text[ps->pos] == ',' || ps->text[ps->pos] == '=')
		{
			lg_parse_error(ps, ps->pos, "expected a %s name pattern after \"%s\"",
						   is_user ? "role" : "database",
						   is_user ? "user" : "database");
			return -1;
		}
		*off = (uint32_t) (*out - (char *) set);
		*last = is_user ? "role name pattern" : "database name pattern";
		if (lg_parse_pattern(ps, LG_NAMES_QMARK, 1,
							 is_user ? "role name" : "database name", out) != 0)
			return -1;
		set->qualified = 1;
	}
}

/* Parse a duration at ps->pos into *ms.  Returns 0 on success. */
static int
lg_parse_duration(LgParser *ps, int64_t *ms)
{
	static const struct
	{
		const char *name;
		int64_t		factor;
	}			units[] = {
		{"ms", 1},
		{"s", 1000},
		{"min", 60 * 1000},
		{"h", 60 * 60 * 1000},
		{"d", 24 * 60 * 60 * 1000},
	};
	size_t		start = ps->pos;
	size_t		number_end;
	size_t		unit_start;
	size_t		unit_len;
	int64_t		value = 0;
	int64_t		factor = 1;

	if (ps->pos < ps->len && ps->text[ps->pos] == '-')
	{
		lg_parse_error(ps, ps->pos, "a duration cannot be negative");
		return -1;
	}
	if (ps->pos >= ps->len || ps->text[ps->pos] < '0' || ps->text[ps->pos] > '9')
	{
		lg_parse_error(ps, ps->pos,
					   "expected a duration: a whole number, optionally followed by ms, s, min, h or d");
		return -1;
	}
	while (ps->pos < ps->len && ps->text[ps->pos] >= '0' && ps->text[ps->pos] <= '9')
	{
		value = value * 10 + (ps->text[ps->pos] - '0');
		if (value > LG_RULE_MAX_TIMEOUT_MS)
		{
			lg_parse_error(ps, start, "duration exceeds the maximum of 365 days");
			return -1;
		}
		ps->pos++;
	}
	if (ps->pos < ps->len && ps->text[ps->pos] == '.')
	{
		lg_parse_error(ps, ps->pos,
					   "a duration must be a whole number; use a smaller unit instead of a fraction");
		return -1;
	}

	/* As in postgresql.conf, a space may separate the number and its unit. */
	number_end = ps->pos;
	while (ps->pos < ps->len && ps->text[ps->pos] == ' ')
		ps->pos++;
	unit_start = ps->pos;
	while (ps->pos < ps->len &&
		   ((ps->text[ps->pos] >= 'a' && ps->text[ps->pos] <= 'z') ||
			(ps->text[ps->pos] >= 'A' && ps->text[ps->pos] <= 'Z')))
		ps->pos++;
	unit_len = ps->pos - unit_start;
	if (unit_len == 0)
		ps->pos = number_end;

	if (unit_len > 0)
	{
		size_t		i;
		int			found = 0;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		{
			if (strlen(units[i].name) == unit_len &&
				memcmp(units[i].name, ps->text + unit_start, unit_len) == 0)
			{
				factor = units[i].factor;
				found = 1;
				break;
			}
		}
		if (!found)
		{
			lg_parse_error(ps, unit_start,
						   "unknown unit \"%.*s\"; valid units are ms, s, min, h and d",
						   (int) (unit_len > 10 ? 10 : unit_len),
						   ps->text + unit_start);
			return -1;
		}
	}

	if (value > LG_RULE_MAX_TIMEOUT_MS / factor)
	{
		lg_parse_error(ps, start, "duration exceeds the maximum of 365 days");
		return -1;
	}
	*ms = value * factor;
	return 0;
}

/*
 * Parse an xmin age limit at ps->pos: a whole number of transactions, no
 * unit.  Returns 0 on success.
 */
static int
lg_parse_xid_age(LgParser *ps, int64_t *value)
{
	size_t		start = ps->pos;
	int64_t		v = 0;

	if (ps->pos >= ps->len || ps->text[ps->pos] < '0' || ps->text[ps->pos] > '9')
	{
		lg_parse_error(ps, ps->pos,
					   "expected an xmin age limit: a whole number of transactions");
		return -1;
	}
	while (ps->pos < ps->len && ps->text[ps->pos] >= '0' && ps->text[ps->pos] <= '9')
	{
		v = v * 10 + (ps->text[ps->pos] - '0');
		if (v > LG_RULE_MAX_XID_AGE)
		{
			lg_parse_error(ps, start, "xmin age limit exceeds the maximum of %d transactions",
						   LG_RULE_MAX_XID_AGE);
			return -1;
		}
		ps->pos++;
	}
	if (ps->pos < ps->len &&
		(ps->text[ps->pos] == '%' || ps->text[ps->pos] == '.' ||
		 (ps->text[ps->pos] >= 'a' && ps->text[ps->pos] <= 'z') ||
		 (ps->text[ps->pos] >= 'A' && ps->text[ps->pos] <= 'Z')))
	{
		lg_parse_error(ps, ps->pos,
					   "an xmin age limit is a whole number of transactions, with no unit");
		return -1;
	}
	*value = v;
	return 0;
}

/*
 * Parse a connection limit at ps->pos: a whole number of connections, or a
 * percentage of max_connections.  Returns 0 on success.
 */
static int
lg_parse_count(LgParser *ps, int64_t *value, int *percent)
{
	size_t		start = ps->pos;
	size_t		number_end;
	int64_t		v = 0;

	*percent = 0;
	if (ps->pos < ps->len && ps->text[ps->pos] == '-')
	{
		lg_parse_error(ps, ps->pos, "a connection limit cannot be negative");
		return -1;
	}
	if (ps->pos >= ps->len || ps->text[ps->pos] < '0' || ps->text[ps->pos] > '9')
	{
		lg_parse_error(ps, ps->pos,
					   "expected a connection limit: a whole number of connections, or a percentage of max_connections such as 10%%");
		return -1;
	}
	while (ps->pos < ps->len && ps->text[ps->pos] >= '0' && ps->text[ps->pos] <= '9')
	{
		v = v * 10 + (ps->text[ps->pos] - '0');
		if (v > LG_RULE_MAX_CONNECTIONS)
		{
			lg_parse_error(ps, start, "connection limit exceeds the maximum of %d",
						   LG_RULE_MAX_CONNECTIONS);
			return -1;
		}
		ps->pos++;
	}
	if (ps->pos < ps->len && ps->text[ps->pos] == '.')
	{
		lg_parse_error(ps, ps->pos, "a connection limit must be a whole number");
		return -1;
	}
	number_end = ps->pos;
	while (ps->pos < ps->len && ps->text[ps->pos] == ' ')
		ps->pos++;
	if (ps->pos < ps->len && ps->text[ps->pos] == '%')
	{
		if (v > 100)
		{
			lg_parse_error(ps, start, "a percentage of max_connections cannot exceed 100%%");
			return -1;
		}
		*percent = 1;
		ps->pos++;
	}
	else if (ps->pos < ps->len &&
			 ((ps->text[ps->pos] >= 'a' && ps->text[ps->pos] <= 'z') ||
			  (ps->text[ps->pos] >= 'A' && ps->text[ps->pos] <= 'Z')))
	{
		lg_parse_error(ps, ps->pos,
					   "a connection limit takes no unit; write a number of connections, or a percentage such as 10%%");
		return -1;
	}
	else
		ps->pos = number_end;
	*value = v;
	return 0;
}

/* What the value of a rule of this kind is called in messages. */
static const char *
lg_value_name(LeakguardRuleKind kind)
{
	switch (kind)
	{
		case LG_RULES_COUNT:
			return "connection limit";
		case LG_RULES_XID_AGE:
			return "xmin age limit";
		case LG_RULES_DURATION:
			break;
	}
	return "duration";
}

LeakguardRuleSet *
lg_rules_parse(const char *text, LeakguardRuleKind kind, LeakguardNameStyle style,
			   char *errbuf, size_t errbuf_size)
{
	LgParser	ps;
	LeakguardRuleSet *set;
	size_t		maxrules = 1;
	size_t		header;
	size_t		size;
	char	   *strings;
	char	   *o;
	size_t		i;

	if (errbuf != NULL && errbuf_size > 0)
		errbuf[0] = '\0';
	if (text == NULL)
		text = "";

	memset(&ps, 0, sizeof(ps));
	ps.text = text;
	ps.len = strlen(text);
	ps.errbuf = errbuf;
	ps.errbuf_size = errbuf_size;

	/*
	 * Every rule but the last ends at a comma, so commas + 1 bounds the
	 * number of rules.  Each input byte is stored in at most one of a rule's
	 * patterns (application, role, database), as at most one escape and
	 * LG_CLEAN_GROWTH bytes, and once more in its source text; each rule
	 * adds at most four NULs.
	 */
	for (i = 0; i < ps.len; i++)
		if (text[i] == ',')
			maxrules++;
	header = offsetof(LeakguardRuleSet, rules) + maxrules * sizeof(LeakguardRule);
	size = header + (LG_CLEAN_GROWTH + 2) * ps.len + 4 * maxrules;

	set = malloc(size);
	if (set == NULL)
		return NULL;
	memset(set, 0, header);
	set->size = size;
	strings = (char *) set + header;
	o = strings;

	lg_skip_space(&ps);
	if (ps.pos >= ps.len)
		return set;

	for (;;)
	{
		LeakguardRule *rule = &set->rules[set->nrules];
		size_t		source_end;
		const char *last;

		ps.ruleno = set->nrules + 1;
		lg_skip_space(&ps);
		ps.rule_start = ps.pos;

		if (ps.pos >= ps.len || ps.text[ps.pos] == ',')
		{
			lg_parse_error(&ps, ps.pos, "empty rule");
			goto fail;
		}
		if (ps.text[ps.pos] == '=')
		{
			lg_parse_error(&ps, ps.pos,
						   "missing application name pattern before \"=\"");
			goto fail;
		}

		rule->pattern_off = (uint32_t) (o - (char *) set);
		if (lg_parse_pattern(&ps, style, 0, "application name", &o) != 0)
			goto fail;
		last = "application name pattern";
		if (lg_parse_qualifiers(&ps, set, rule, &o, &last) != 0)
			goto fail;

		lg_skip_space(&ps);
		if (ps.pos >= ps.len || ps.text[ps.pos] != '=')
		{
			if (ps.pos < ps.len && ps.text[ps.pos] != ',')
				lg_parse_error(&ps, ps.pos,
							   "expected \"=\" after the %s; put names holding spaces in double quotes",
							   last);
			else
				lg_parse_error(&ps, ps.pos,
							   "expected \"=\" and %s %s after the %s",
							   kind == LG_RULES_XID_AGE ? "an" : "a",
							   lg_value_name(kind), last);
			goto fail;
		}
		ps.pos++;
		lg_skip_space(&ps);

		if (kind == LG_RULES_COUNT ?
			lg_parse_count(&ps, &rule->value, &rule->percent) != 0 :
			kind == LG_RULES_XID_AGE ?
			lg_parse_xid_age(&ps, &rule->value) != 0 :
			lg_parse_duration(&ps, &rule->value) != 0)
			goto fail;
		source_end = ps.pos;

		rule->source_off = (uint32_t) (o - (char *) set);
		memcpy(o, ps.text + ps.rule_start, source_end - ps.rule_start);
		o += source_end - ps.rule_start;
		*o++ = '\0';
		set->nrules++;

		lg_skip_space(&ps);
		if (ps.pos >= ps.len)
			break;
		if (ps.text[ps.pos] != ',')
		{
			lg_parse_error(&ps, ps.pos,
						   "unexpected \"%c\" after the %s; separate rules with commas",
						   ps.text[ps.pos], lg_value_name(kind));
			goto fail;
		}
		ps.pos++;
	}

	return set;

fail:
	free(set);
	return NULL;
}

const char *
lg_rule_pattern(const LeakguardRuleSet *rules, int i)
{
	return (const char *) rules + rules->rules[i].pattern_off;
}

const char *
lg_rule_user(const LeakguardRuleSet *rules, int i)
{
	uint32_t	off = rules->rules[i].user_off;

	return off == 0 ? NULL : (const char *) rules + off;
}

const char *
lg_rule_database(const LeakguardRuleSet *rules, int i)
{
	uint32_t	off = rules->rules[i].database_off;

	return off == 0 ? NULL : (const char *) rules + off;
}

const char *
lg_rule_source(const LeakguardRuleSet *rules, int i)
{
	return (const char *) rules + rules->rules[i].source_off;
}

int
lg_glob_match(const char *pattern, const char *name)
{
	const char *star = NULL;
	const char *resume = NULL;

	while (*name)
	{
		if (*pattern == '*')
		{
			star = pattern++;
			resume = name;
		}
		else if (*pattern == '?' ||
				 (*pattern != '\\' && *pattern != '\0' && *pattern == *name))
		{
			pattern++;
			name++;
		}
		else if (*pattern == '\\' && pattern[1] != '\0' && pattern[1] == *name)
		{
			pattern += 2;
			name++;
		}
		else if (star != NULL)
		{
			/* Let the last star swallow one more byte and try again. */
			pattern = star + 1;
			name = ++resume;
		}
		else
			return 0;
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

/* A qualifier's pattern (NULL: none) admits the name (NULL: not given). */
static int
lg_qualifier_match(const char *pattern, const char *name)
{
	if (pattern == NULL)
		return 1;
	return name != NULL && lg_glob_match(pattern, name);
}

/*
 * Whether a stored pattern is made of '*' alone, and so matches every name
 * without naming any.
 */
int
lg_pattern_any(const char *pattern)
{
	if (*pattern == '\0')
		return 0;
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

/* The first rule that matches; with named_only, skipping '*'-only patterns. */
static int
lg_rules_first(const LeakguardRuleSet *rules, const char *appname,
			   const char *usename, const char *datname, int named_only)
{
	int			i;

	if (rules == NULL)
		return -1;
	for (i = 0; i < rules->nrules; i++)
		if (!(named_only && lg_pattern_any(lg_rule_pattern(rules, i))) &&
			lg_glob_match(lg_rule_pattern(rules, i), appname) &&
			lg_qualifier_match(lg_rule_user(rules, i), usename) &&
			lg_qualifier_match(lg_rule_database(rules, i), datname))
			return i;
	return -1;
}

int
lg_rules_match(const LeakguardRuleSet *rules, const char *appname,
			   const char *usename, const char *datname)
{
	return lg_rules_first(rules, appname, usename, datname, 0);
}

int
lg_rules_match_named(const LeakguardRuleSet *rules, const char *appname,
					 const char *usename, const char *datname)
{
	return lg_rules_first(rules, appname, usename, datname, 1);
}
