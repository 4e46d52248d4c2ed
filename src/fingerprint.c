/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *		Normalise a statement's text and hash it (see fingerprint.h).
 *
 * A small tokenizer of PostgreSQL's lexical syntax, enough to tell
 * constants, comments and words apart; it never fails: whatever it does
 * not recognise is a one-byte token.  Tokens go one at a time to a writer
 * that hashes them (and copies them for the unit tests), with a one-token
 * delay for commas after a constant (a list of constants becomes one '?')
 * and for semicolons (dropped at the end).
 *
 * Plain C, no allocation, no server call: it runs in the worker, under
 * LeakguardShared->lock, for a session that was just ended.
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "fingerprint.h"

#include <stdbool.h>
#include <string.h>

#define LG_FNV_OFFSET	UINT64_C(14695981039346656037)
#define LG_FNV_PRIME	UINT64_C(1099511628211)

typedef struct LgFingerprintWriter
{
	uint64_t	hash;
	char	   *out;
	size_t		size;
	size_t		len;			/* bytes written, also past size */
	bool		last_const;		/* the last token written was a '?' */
	bool		pending_comma;	/* a ',' after a '?', not written yet */
	int			pending_semis;	/* ';' not written yet */
} LgFingerprintWriter;

typedef enum LgTokenKind
{
	LG_TOKEN_CONST,
	LG_TOKEN_WORD,				/* unquoted: folded to lower case */
	LG_TOKEN_OTHER
} LgTokenKind;

static bool
lg_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

static bool
lg_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
lg_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A byte that may start an identifier: letters, '_', any non-ASCII byte. */
static bool
lg_is_ident_start(unsigned char c)
{
	return lg_is_alpha(c) || c == '_' || c >= 0x80;
}

static bool
lg_is_ident_cont(unsigned char c)
{
	return lg_is_ident_start(c) || lg_is_digit(c) || c == '$';
}

static bool
lg_is_op(unsigned char c)
{
	return c != '\0' && strchr("+-*/<>=~!@#%^&|`?:", c) != NULL;
}

static void
lg_put_byte(LgFingerprintWriter *w, unsigned char c)
{
	w->hash ^= c;
	w->hash *= LG_FNV_PRIME;
	if (w->out != NULL && w->len + 1 < w->size)
		w->out[w->len] = (char) c;
	w->len++;
}

static void
lg_put_token(LgFingerprintWriter *w, const char *s, size_t n, bool fold)
{
	if (w->len > 0)
		lg_put_byte(w, ' ');
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (fold && c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		lg_put_byte(w, c);
	}
}

static void
lg_flush_pending(LgFingerprintWriter *w)
{
	if (w->pending_comma)
	{
		lg_put_token(w, ",", 1, false);
		w->pending_comma = false;
		w->last_const = false;
	}
	for (; w->pending_semis > 0; w->pending_semis--)
	{
		lg_put_token(w, ";", 1, false);
		w->last_const = false;
	}
}

static void
lg_token(LgFingerprintWriter *w, LgTokenKind kind, const char *s, size_t n)
{
	if (kind == LG_TOKEN_OTHER && n == 1 && s[0] == ',')
	{
		if (w->last_const && w->pending_semis == 0 && !w->pending_comma)
		{
			w->pending_comma = true;
			return;
		}
	}
	else if (kind == LG_TOKEN_OTHER && n == 1 && s[0] == ';')
	{
		if (w->pending_comma)
			lg_flush_pending(w);
		w->pending_semis++;
		return;
	}
	else if (kind == LG_TOKEN_CONST && w->pending_comma &&
			 w->pending_semis == 0)
	{
		/* "?, ?": the list stays one '?' */
		w->pending_comma = false;
		return;
	}

	lg_flush_pending(w);
	if (kind == LG_TOKEN_CONST)
		lg_put_token(w, "?", 1, false);
	else
		lg_put_token(w, s, n, kind == LG_TOKEN_WORD);
	w->last_const = (kind == LG_TOKEN_CONST);
}

/*
 * Past a string constant whose opening quote is at p; backslash escapes
 * count only in an escape string (E'...').
 */
static const char *
lg_skip_string(const char *p, bool escapes)
{
	for (p++; *p != '\0'; p++)
	{
		if (escapes && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '\'')
		{
			if (p[1] != '\'')
				return p + 1;
			p++;
		}
	}
	return p;
}

/*
 * At a '$': past a dollar-quoted string ($$...$$, $tag$...$tag$), or NULL
 * when it starts none.
 */
static const char *
lg_skip_dollar_quote(const char *p)
{
	const char *q = p + 1;
	size_t		taglen;
	const char *end;

	if (lg_is_digit((unsigned char) *q))
		return NULL;
	while (lg_is_ident_start((unsigned char) *q) || lg_is_digit((unsigned char) *q))
		q++;
	if (*q != '$')
		return NULL;
	taglen = q - p + 1;
	for (end = q + 1; *end != '\0'; end++)
		if (*end == '$' && strncmp(end, p, taglen) == 0)
			return end + taglen;
	return end;
}

uint64_t
lg_fingerprint(const char *query, char *out, size_t outsize)
{
	LgFingerprintWriter w;
	const char *p = query;

	memset(&w, 0, sizeof(w));
	w.hash = LG_FNV_OFFSET;
	w.out = (outsize > 0) ? out : NULL;
	w.size = outsize;

	while (*p != '\0')
	{
		unsigned char c = (unsigned char) *p;
		const char *start = p;
		const char *q;

		if (lg_is_space(c))
			p++;
		else if (c == '-' && p[1] == '-')
		{
			while (*p != '\0' && *p != '\n')
				p++;
		}
		else if (c == '/' && p[1] == '*')
		{
			int			depth = 1;

			for (p += 2; *p != '\0' && depth > 0;)
			{
				if (p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
		}
		else if (c == '\'')
		{
			p = lg_skip_string(p, false);
			lg_token(&w, LG_TOKEN_CONST, start, 0);
		}
		else if (p[1] == '\'' && strchr("eExXbBnN", c) != NULL)
		{
			p = lg_skip_string(p + 1, c == 'e' || c == 'E');
			lg_token(&w, LG_TOKEN_CONST, start, 0);
		}
		else if ((c == 'u' || c == 'U') && p[1] == '&' && p[2] == '\'')
		{
			p = lg_skip_string(p + 2, false);
			lg_token(&w, LG_TOKEN_CONST, start, 0);
		}
		else if (c == '"')
		{
			for (p++; *p != '\0'; p++)
				if (*p == '"')
				{
					if (p[1] != '"')
						break;
					p++;
				}
			if (*p == '"')
				p++;
			lg_token(&w, LG_TOKEN_OTHER, start, p - start);
		}
		else if (c == '$' && lg_is_digit((unsigned char) p[1]))
		{
			for (p++; lg_is_digit((unsigned char) *p); p++)
				;
			lg_token(&w, LG_TOKEN_CONST, start, 0);
		}
		else if (c == '$' && (q = lg_skip_dollar_quote(p)) != NULL)
		{
			p = q;
			lg_token(&w, LG_TOKEN_CONST, start, 0);
		}
		else if (lg_is_digit(c) || (c == '.' && lg_is_digit((unsigned char) p[1])))
		{
			for (p++; lg_is_ident_cont((unsigned char) *p) || *p == '.';)
			{
				if ((*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-'))
					p += 2;
				else
					p++;
			}
			lg_token(&w, LG_TOKEN_CONST, start, 0);
		}
		else if (lg_is_ident_start(c))
		{
			for (p++; lg_is_ident_cont((unsigned char) *p); p++)
				;
			lg_token(&w, LG_TOKEN_WORD, start, p - start);
		}
		else if (lg_is_op(c))
		{
			for (p++; lg_is_op((unsigned char) *p); p++)
				if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*'))
					break;
			lg_token(&w, LG_TOKEN_OTHER, start, p - start);
		}
		else
		{
			p++;
			lg_token(&w, LG_TOKEN_OTHER, start, 1);
		}
	}
	if (w.pending_comma)
	{
		w.pending_semis = 0;
		lg_flush_pending(&w);
	}

	if (w.out != NULL)
		w.out[w.len < w.size ? w.len : w.size - 1] = '\0';
	return w.hash;
}
