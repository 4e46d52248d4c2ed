/*-------------------------------------------------------------------------
 *
 * lg_hold.c
 *		The libpq client of test/bench/xmin-scan.sh.
 *
 *	lg_hold CONNSTR N
 *
 * Opens N sessions, each "BEGIN; SELECT pg_current_xact_id()": a
 * transaction with an ID, left idle in transaction, so that each holds
 * back the xmin horizon and is watched by an xmin limit at every scan.
 * Prints "ready" once all are open, and holds them until its standard input
 * is closed.  Exit status: 0 fine, 1 a connection or statement failed.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

#include "libpq-fe.h"

int
main(int argc, char **argv)
{
	PGconn	  **conns;
	int			n;
	int			idle = 0;
	int			i;

	if (argc < 3 || argc > 4 || (n = atoi(argv[2])) <= 0 ||
		(argc == 4 && ((idle = atoi(argv[3])) < 0 || idle > n)))
	{
		fprintf(stderr, "usage: %s CONNSTR N [IDLE]\n", argv[0]);
		return 1;
	}
	conns = calloc(n, sizeof(PGconn *));
	if (conns == NULL)
		return 1;
	for (i = 0; i < n; i++)
	{
		PGresult   *res;

		conns[i] = PQconnectdb(argv[1]);
		if (PQstatus(conns[i]) != CONNECTION_OK)
		{
			fprintf(stderr, "connection %d: %s", i, PQerrorMessage(conns[i]));
			return 1;
		}
		res = PQexec(conns[i], i < idle ? "SELECT 1" :
					 "BEGIN; SELECT pg_catalog.pg_current_xact_id()");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "session %d: %s", i, PQerrorMessage(conns[i]));
			return 1;
		}
		PQclear(res);
	}
	printf("ready\n");
	fflush(stdout);
	while (getchar() != EOF)
		;
	for (i = 0; i < n; i++)
		PQfinish(conns[i]);
	free(conns);
	return 0;
}
