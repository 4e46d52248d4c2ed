/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *		Normalise a statement's text and hash it (see fingerprint.h).
 *
 * A small tokenizer of PostgreSQL's lexical syntax, enough to tell
 * constants, comments and words apart; it never fails: whatever it does
 * not recognise is a one-byte token.  The normalised text is never built:
 * each of its bytes goes straight into the hash (64-bit FNV-1a), and into
 * a copy only when the caller asks for one (the unit tests).  Commas after
 * a constant and semicolons wait for the next token, so that a list of
 * constants becomes one '?' and semicolons at the end are dropped.
 *
 * It runs in the worker, under LeakguardShared->lock, for each session
 * ended while the server computes no query id, so it is written for
 * speed: one table look-up per byte to classify it, a few instructions per
 * byte, no allocation, no call per byte (test/bench/episodes.sh and the
 * callgrind count in the report of issue 31 measure what recording costs).
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "fingerprint.h"

#include <stdbool.h>
#include <string.h>

/*
 * The writer's steps are inlined into the one loop, so that its state stays
 * in registers (a call per token would keep it in memory).
 */
#if defined(__GNUC__) || defined(__clang__)
#define LG_INLINE	static inline __attribute__((always_inline))
#else
#define LG_INLINE	static inline
#endif

#define LG_FNV_OFFSET	UINT64_C(14695981039346656037)
#define LG_FNV_PRIME	UINT64_C(1099511628211)

typedef struct LgFingerprint
{
	uint64_t	hash;
	bool		any;			/* a byte was written */
	bool		last_const;		/* the last token written was a '?' */
	bool		pending_comma;	/* a ',' after a '?', not written yet */
	int			pending_semis;	/* ';' not written yet */
	char	   *out;			/* a copy of the normalised text, if asked */
	size_t		outsize;
	size_t		outlen;
} LgFingerprint;

/* What a byte may start or continue. */
enum
{
	X,							/* anything else: a token of its own */
	S,							/* whitespace */
	D,							/* digit */
	I,							/* letter, '_', any non-ASCII byte */
	P,							/* operator character */
	Q,							/* ' */
	W,							/* " */
	L,							/* $ */
	T							/* . */
};

static const unsigned char lg_class[256] = {
	X, X, X, X, X, X, X, X, X, S, S, S, S, S, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	S, P, W, P, L, P, P, Q, X, X, P, P, X, P, T, P,
	D, D, D, D, D, D, D, D, D, D, P, X, P, P, P, P,
	P, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, X, X, X, P, I,
	P, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, X, P, X, P, X,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
	I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
};

/*
 * A byte that continues a word (letters, digits, '_', '$', non-ASCII), as
 * it is hashed: letters in lower case; 0 for any other byte.
 */
static const unsigned char lg_word[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x5f,
	0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
	0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
	0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};

#define LG_CLASS(c)			lg_class[(unsigned char) (c)]
#define LG_IS_IDENT_CONT(c)	(lg_word[(unsigned char) (c)] != 0)

LG_INLINE void
lg_emit(LgFingerprint *f, unsigned char c)
{
	f->hash = (f->hash ^ c) * LG_FNV_PRIME;
	if (f->out != NULL && f->outlen + 1 < f->outsize)
		f->out[f->outlen++] = (char) c;
}

/* The space between two tokens. */
LG_INLINE void
lg_separate(LgFingerprint *f)
{
	if (f->any)
		lg_emit(f, ' ');
	f->any = true;
}

/* Before a token: what waits, then the space. */
LG_INLINE void
lg_begin(LgFingerprint *f)
{
	if (f->pending_comma)
	{
		lg_separate(f);
		lg_emit(f, ',');
		f->pending_comma = false;
	}
	for (; f->pending_semis > 0; f->pending_semis--)
	{
		lg_separate(f);
		lg_emit(f, ';');
	}
	lg_separate(f);
}

/* A token of one kind but constants: its bytes from start to end. */
LG_INLINE void
lg_other(LgFingerprint *f, const char *start, const char *end)
{
	lg_begin(f);
	for (; start < end; start++)
		lg_emit(f, (unsigned char) *start);
	f->last_const = false;
}

LG_INLINE void
lg_const(LgFingerprint *f)
{
	if (f->pending_comma)
		f->pending_comma = false;	/* "?, ?": the list stays one '?' */
	else
	{
		lg_begin(f);
		lg_emit(f, '?');
	}
	f->last_const = true;
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

	if (LG_CLASS(*q) == D)
		return NULL;
	while (LG_CLASS(*q) == I || LG_CLASS(*q) == D)
		q++;
	if (*q != '$')
		return NULL;
	taglen = q - p + 1;
	for (end = q + 1; *end != '\0'; end++)
		if (*end == '$' && strncmp(end, p, taglen) == 0)
			return end + taglen;
	return end;
}

/* Past a number that starts at p (a digit, or '.' and a digit). */
static const char *
lg_skip_number(const char *p)
{
	for (p++; LG_IS_IDENT_CONT(*p) || *p == '.';)
	{
		if ((*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-'))
			p += 2;
		else
			p++;
	}
	return p;
}

uint64_t
lg_fingerprint(const char *query, char *out, size_t outsize)
{
	LgFingerprint f;
	const char *p = query;
	unsigned char c;

	f.hash = LG_FNV_OFFSET;
	f.any = false;
	f.last_const = false;
	f.pending_comma = false;
	f.pending_semis = 0;
	f.out = (outsize > 0) ? out : NULL;
	f.outsize = outsize;
	f.outlen = 0;

	for (;;)
	{
		const char *start;

		while (LG_CLASS(*p) == S)
			p++;
		if ((c = (unsigned char) *p) == '\0')
			break;
		start = p;
		switch (LG_CLASS(c))
		{
			case I:
				if (p[1] == '\'' && strchr("eExXbBnN", c) != NULL)
				{
					p = lg_skip_string(p + 1, c == 'e' || c == 'E');
					lg_const(&f);
				}
				else if (p[1] == '&' && (c == 'u' || c == 'U') && p[2] == '\'')
				{
					p = lg_skip_string(p + 2, false);
					lg_const(&f);
				}
				else
				{
					/* a word: folded to lower case, as the server folds it */
					uint64_t	h;
					unsigned char w;

					lg_begin(&f);
					h = f.hash;
					while ((w = lg_word[(unsigned char) *p]) != 0)
					{
						h = (h ^ w) * LG_FNV_PRIME;
						p++;
					}
					f.hash = h;
					if (f.out != NULL)
						for (; start < p && f.outlen + 1 < f.outsize; start++)
							f.out[f.outlen++] = (char) lg_word[(unsigned char) *start];
					f.last_const = false;
				}
				break;
			case D:
				p = lg_skip_number(p);
				lg_const(&f);
				break;
			case T:
				if (LG_CLASS(p[1]) == D)
				{
					p = lg_skip_number(p);
					lg_const(&f);
				}
				else
					lg_other(&f, start, ++p);
				break;
			case Q:
				p = lg_skip_string(p, false);
				lg_const(&f);
				break;
			case W:
				for (p++; *p != '\0'; p++)
					if (*p == '"')
					{
						if (p[1] != '"')
							break;
						p++;
					}
				if (*p == '"')
					p++;
				lg_other(&f, start, p);
				break;
			case L:
				{
					const char *q;

					if (LG_CLASS(p[1]) == D)
					{
						for (p++; LG_CLASS(*p) == D; p++)
							;
						lg_const(&f);
					}
					else if ((q = lg_skip_dollar_quote(p)) != NULL)
					{
						p = q;
						lg_const(&f);
					}
					else
						lg_other(&f, start, ++p);
				}
				break;
			case P:
				if (c == '-' && p[1] == '-')
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
				else
				{
					for (p++; LG_CLASS(*p) == P; p++)
						if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*'))
							break;
					lg_other(&f, start, p);
				}
				break;
			default:
				p++;
				if (c == ',' && f.last_const && !f.pending_comma &&
					f.pending_semis == 0)
					f.pending_comma = true;
				else if (c == ';')
				{
					if (f.pending_comma)
					{
						lg_separate(&f);
						lg_emit(&f, ',');
						f.pending_comma = false;
						f.last_const = false;
					}
					f.pending_semis++;
				}
				else
					lg_other(&f, start, p);
				break;
		}
	}
	if (f.pending_comma)
	{
		lg_separate(&f);
		lg_emit(&f, ',');
	}

	if (f.out != NULL)
		f.out[f.outlen] = '\0';
	return f.hash;
}
