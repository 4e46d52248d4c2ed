/*
 * lg_fastpath: a libpq client for the TAP tests that renames its session
 * by paths psql cannot take.
 *
 *		lg_fastpath CONNINFO
 *
 * Connects, then reads commands from stdin, one a line, and answers each
 * with one line on stdout, "ok VALUE" or "error MESSAGE":
 *
 *		fn NAME LOCAL	set_config('application_name', NAME, LOCAL) by a
 *						fast-path function call (PQfn), which reaches no
 *						executor; LOCAL is 0 or 1
 *		x SQL			SQL through the extended protocol (PQexecParams)
 *		q SQL			SQL through the simple protocol (PQexec)
 *
 * VALUE is the first column of the first row, or "" when there is none.
 * It ends at end of input, or when the connection is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

/* "error MESSAGE" on one line: the message's own line ends become spaces. */
static void
answer_error(PGconn *conn)
{
	const char *msg = PQerrorMessage(conn);

	fputs("error ", stdout);
	for (; *msg != '\0'; msg++)
		putchar(*msg == '\n' ? ' ' : *msg);
	putchar('\n');
}

static void
answer_result(PGresult *res, PGconn *conn)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		printf("ok %s\n", (st == PGRES_TUPLES_OK && PQntuples(res) > 0) ?
			   PQgetvalue(res, 0, 0) : "");
	else
		answer_error(conn);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	char		line[8192];
	int			fnoid;

	if (argc != 2)
	{
		fprintf(stderr, "usage: lg_fastpath CONNINFO\n");
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		answer_error(conn);
		return 1;
	}
	res = PQexec(conn, "SELECT 'pg_catalog.set_config(text, text, boolean)'::pg_catalog.regprocedure::pg_catalog.oid");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		answer_error(conn);
		return 1;
	}
	fnoid = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	printf("ok %d\n", PQbackendPID(conn));
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		size_t		len = strlen(line);

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (strncmp(line, "fn ", 3) == 0)
		{
			char	   *name = line + 3;
			char	   *sp = strrchr(name, ' ');
			char		local;
			PQArgBlock args[3];
			char		buf[1024];
			int			result_len = 0;

			if (sp == NULL)
			{
				printf("error bad command\n");
				fflush(stdout);
				continue;
			}
			*sp = '\0';
			local = (char) (atoi(sp + 1) != 0);
			args[0].len = (int) strlen("application_name");
			args[0].isint = 0;
			args[0].u.ptr = (int *) "application_name";
			args[1].len = (int) strlen(name);
			args[1].isint = 0;
			args[1].u.ptr = (int *) name;
			args[2].len = 1;
			args[2].isint = 0;
			args[2].u.ptr = (int *) &local;
			res = PQfn(conn, fnoid, (int *) buf, &result_len, 0, args, 3);
			if (PQresultStatus(res) == PGRES_COMMAND_OK)
				printf("ok %.*s\n", result_len, buf);
			else
				answer_error(conn);
			PQclear(res);
		}
		else if (strncmp(line, "x ", 2) == 0)
		{
			res = PQexecParams(conn, line + 2, 0, NULL, NULL, NULL, NULL, 0);
			answer_result(res, conn);
			PQclear(res);
		}
		else if (strncmp(line, "q ", 2) == 0)
		{
			res = PQexec(conn, line + 2);
			answer_result(res, conn);
			PQclear(res);
		}
		else
			printf("error bad command\n");
		fflush(stdout);
		if (PQstatus(conn) != CONNECTION_OK)
			break;
	}
	PQfinish(conn);
	return 0;
}
