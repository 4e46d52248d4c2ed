/*-------------------------------------------------------------------------
 *
 * test_fingerprint.c
 *		Unit tests of the statement fingerprint: which texts are one
 *		statement, which are not, and the normalised text.
 *
 * Built with AddressSanitizer and UBSan; no PostgreSQL needed.  Each check
 * prints a line on failure; the last line is "N passed, M failed".
 *
 *-------------------------------------------------------------------------
 */
#include "fingerprint.h"

#include <stdio.h>
#include <string.h>

static int	passed;
static int	failed;

static void
same(const char *a, const char *b)
{
	if (lg_fingerprint(a, NULL, 0) == lg_fingerprint(b, NULL, 0))
		passed++;
	else
	{
		failed++;
		printf("FAIL: not one statement: <%s> <%s>\n", a, b);
	}
}

static void
differ(const char *a, const char *b)
{
	if (lg_fingerprint(a, NULL, 0) != lg_fingerprint(b, NULL, 0))
		passed++;
	else
	{
		failed++;
		printf("FAIL: one statement: <%s> <%s>\n", a, b);
	}
}

static void
normal(const char *query, const char *expected)
{
	char		out[256];
	uint64_t	h = lg_fingerprint(query, out, sizeof(out));

	if (strcmp(out, expected) == 0 && h == lg_fingerprint(expected, NULL, 0))
		passed++;
	else
	{
		failed++;
		printf("FAIL: <%s> normalised to <%s>, expected <%s>\n",
			   query, out, expected);
	}
}

int
main(void)
{
	char		small[8];
	char		longq[4096];

	/* constants of every form */
	same("UPDATE orders SET state = 'paid' WHERE id = 7",
		 "UPDATE orders SET state = 'new' WHERE id = 8");
	same("SELECT 1.5e-3, .5, 0x1F, 1_000", "SELECT 2, 3, 4, 5");
	same("SELECT E'it\\'s', 'it''s'", "SELECT 'a', 'b'");
	same("SELECT $$a$$, $x$ b $ c $x$, X'1F', B'101', N'n', U&'d'",
		 "SELECT 1, 2, 3, 4, 5, 6");
	same("SELECT * FROM t WHERE a = $1 AND b = $12", "SELECT * FROM t WHERE a = 1 AND b = 2");

	/* layout, comments, case of words */
	same("select  *\n\tfrom routes -- why\n where id=3 /* a /* nested */ one */",
		 "SELECT * FROM routes WHERE id = 4");
	same("UPDATE orders SET x = 1;", "update orders set x = 2");

	/* lists of constants of any length */
	same("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (4)");
	same("INSERT INTO t VALUES (1, 'a'), (2, 'b')", "INSERT INTO t VALUES (3, 'c'), (4, 'd')");

	/* what makes another statement */
	differ("UPDATE orders SET x = 1", "UPDATE routes SET x = 1");
	differ("SELECT 1 AS c1", "SELECT 1 AS c2");
	differ("SELECT \"Id\" FROM t", "SELECT \"id\" FROM t");
	differ("SELECT a, b FROM t", "SELECT a FROM t");
	differ("SELECT a FROM t WHERE x = 1", "SELECT a FROM t WHERE y = 1");

	/* the normalised text */
	normal("SELECT * FROM Routes r WHERE r.id=42 AND r.name <> 'x';",
		   "select * from routes r where r . id = ? and r . name <> ?");
	normal("SELECT a::int, b FROM \"T\" WHERE c IN (1,2) OR d = -3",
		   "select a :: int , b from \"T\" where c in ( ? ) or d = - ?");
	normal("  ", "");
	normal("", "");

	/* unfinished constructs end at the end of the text */
	normal("SELECT 'unterminated", "select ?");
	normal("SELECT $a$ never closed", "select ?");
	normal("SELECT /* open comment", "select");
	normal("SELECT \"open", "select \"open");

	/* a short buffer is cut and terminated, the hash covers everything */
	lg_fingerprint("SELECT something_long FROM t", small, sizeof(small));
	if (strlen(small) == sizeof(small) - 1)
		passed++;
	else
	{
		failed++;
		printf("FAIL: short buffer: <%s>\n", small);
	}
	differ("SELECT something_long FROM t", "SELECT something_long FROM u");

	/* long input, no buffer: no overrun (ASan) */
	memset(longq, 'x', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	(void) lg_fingerprint(longq, NULL, 0);
	passed++;

	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
