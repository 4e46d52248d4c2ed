/*-------------------------------------------------------------------------
 *
 * lg_bench.c
 *		The libpq client behind "make bench" (test/bench/run.sh).
 *
 * Each subcommand takes a libpq connection string to a server that run.sh
 * started and configured, and connects its own sessions to it:
 *
 *	precision	N sessions of several applications (each connecting as the
 *				role of the same name) each leave a transaction open, their
 *				"BEGIN; SELECT 1" sent at moments spread evenly over a time
 *				span.  For each session, the moment the server closed it is
 *				compared with its deadline, state_change + limit of its
 *				application: the overshoot.  With --sweep-every, a "sweeper"
 *				connection runs the usual pg_terminate_backend() query over
 *				pg_stat_activity at that interval, as a cron job would.
 *	mass		the same with every session going idle at once and a single
 *				limit: how long after the first and the last deadline the
 *				last session is closed.  The statements are sent in one
 *				burst, and each waits on the server (pg_sleep_until) until
 *				one common moment --sync ms later, so that the sessions go
 *				idle together rather than as fast as the backends get to
 *				them.
 *	scan		at several numbers of connected client backends (a share of
 *				them idle in transaction under a long limit, the rest idle),
 *				leakguard's own scan time, from leakguard.status() sampled
 *				over a window, against the server-side time of one sweep
 *				query over pg_stat_activity (EXPLAIN ANALYZE, planning +
 *				execution).  With --idle-rules, the same backends are also
 *				measured with leakguard.application_idle_timeouts set to
 *				those rules (ALTER SYSTEM and a reload, reset afterwards), so
 *				that every scan follows the idle sessions' deadlines too:
 *				half a window without, a window with, half a window without.
 *				With --rest-window, once the last step's backends are
 *				connected: the worker's CPU time at rest (from
 *				/proc/PID/schedstat, so the server must run on this
 *				machine) at leakguard.naptime = 1 s and then with each limit
 *				of --rest-limits in force for another application, next to
 *				a process of our own that only sleeps and wakes at the same
 *				interval (what any waking costs on this machine).
 *	history		precision with one application, while --readers more
 *				connections run --reader-sql (by default a count(*) of
 *				leakguard.terminations) back to back for the whole span; the
 *				reads they completed and their mean time are reported with
 *				the overshoot, and how often the worker was seen waiting for
 *				leakguard's LWLock (pg_stat_activity.wait_event, sampled
 *				every --wait-sample ms).  --solo-reads N times the query
 *				alone first.
 *	statsfile	IN OUT N, no server: copy leakguard's statistics file IN
 *				(pg_stat/leakguard.stat, format of src/persist.c) to OUT with
 *				N copies of its newest event and a new CRC-32C, so that a
 *				server started with it has a history of N events.
 *
 * How a closing is seen: each session's socket is watched with poll(); the
 * server sends a FATAL error (reported by libpq to the notice receiver,
 * since no query is running) and closes the socket, and the moment poll()
 * first reports either is the closing time (CLOCK_REALTIME).  The session's
 * exact state_change comes from pg_stat_activity, read by a monitoring
 * connection every --monitor-every ms until every session has been seen
 * idle in transaction.  Both clocks are this machine's, so
 * overshoot = closed_at - (state_change + limit) needs no synchronisation;
 * a negative overshoot is a session terminated before its deadline.  With
 * --leakguard-history, the moment leakguard signalled each session is read
 * from leakguard.terminations afterwards, to tell the worker's delay from
 * the victim's.
 *
 * Results go to stdout as Markdown table rows, each line prefixed with a
 * tag (@all, @limit, @mass, @scan, @scanidle, @history, @histread; @precnum,
 * @massnum and @histnum lines are plain numbers, followed on @precnum and
 * @massnum by the label) for run.sh to sort into tables; progress,
 * warnings and errors go to stderr.  Exit status: 0 fine; 1 something broke
 * (a connection or query failed, a session was never closed); 3 with
 * --fail-early when some session was closed before its deadline.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

typedef int64_t int64;

#define MAX_APPS		16
#define MAX_STEPS		16
#define SQL_LEN			8192

#define Min(a, b)		((a) < (b) ? (a) : (b))
#define Max(a, b)		((a) > (b) ? (a) : (b))

/* What a session is doing. */
typedef enum SessState
{
	SS_READY,					/* connected, statement not sent yet */
	SS_SENT,					/* statement sent, results not all read */
	SS_IDLE,					/* idle in transaction, watched */
	SS_CLOSED,					/* the server closed it */
	SS_FAILED					/* an error we did not expect */
} SessState;

/* Who closed a session, from the FATAL message the server sent. */
typedef enum ClosedBy
{
	BY_NONE,
	BY_LEAKGUARD,				/* 25P03 with a detail naming leakguard */
	BY_BUILTIN,					/* 25P03: idle_in_transaction_session_timeout */
	BY_ADMIN,					/* 57P01: pg_terminate_backend() */
	BY_OTHER,					/* another FATAL error */
	BY_EOF,						/* closed without a message */
	BY_COUNT
} ClosedBy;

static const char *const closed_by_name[BY_COUNT] = {
	"-", "leakguard", "built-in timeout", "pg_terminate_backend", "other FATAL", "no message"
};

typedef struct App
{
	char		name[64];
	int64		limit_ms;
} App;

typedef struct Session
{
	PGconn	   *conn;
	int			pid;
	int			app;			/* index in the App array */
	SessState	state;
	int64		send_at;		/* when its statement is (was) sent, us */
	int64		idle_at;		/* when the client had all its results */
	int64		state_change;	/* server's state_change, us; 0: unknown */
	int64		closed_at;		/* first sign of the closing; 0: none */
	int64		eof_at;			/* when the socket reached its end */
	int64		acted_at;		/* when leakguard signalled it; 0: unknown */
	ClosedBy	by;
} Session;

typedef struct Options
{
	const char *conninfo;
	const char *label;
	const char *apps;
	int			sessions;
	int64		stagger_ms;
	int64		sweep_every_ms;
	int64		grace_ms;
	int64		monitor_every_ms;
	int64		sync_ms;
	bool		fail_early;
	bool		lg_history;		/* read leakguard.terminations afterwards */
	/* history */
	int			readers;		/* connections reading reader_sql meanwhile */
	const char *reader_sql;
	int			solo_reads;		/* timed reads alone, before the sessions */
	int64		wait_sample_ms; /* sample the worker's wait event */
	/* scan */
	const char *steps;
	int			idle_pct;
	int64		settle_ms;
	int64		window_ms;
	int64		sample_ms;
	int			explain_runs;
	const char *idle_rules;		/* second arm: these idle-session rules */
	int64		rest_window_ms; /* worker CPU at rest; 0: not measured */
	const char *rest_limits;	/* ms, each a rest arm of its own */
} Options;

/* What the reader connections of the history subcommand did. */
typedef struct ReadStats
{
	int64		reads;			/* completed */
	int64		total_us;		/* their summed duration */
	int64		max_us;
	int64		min_rows;		/* rows counted per read, least and most */
	int64		max_rows;
	int64		samples;		/* of the worker's wait event */
	int64		lock_samples;	/* waiting for an LWLock of leakguard's */
} ReadStats;

static const char *progname = "lg_bench";

static void
fail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: error: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
note(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "  [lg_bench] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Microseconds since the epoch, CLOCK_REALTIME: the server's clock too. */
static int64
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_us(int64 us)
{
	struct timespec ts;

	if (us <= 0)
		return;
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array of n > 0 values. */
static int64
percentile(const int64 *sorted, int n, double p)
{
	int			rank = (int) ceil(p / 100.0 * n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* "1 s", "1.5 s", "250 ms", "1 h" */
static const char *
fmt_limit(int64 ms, char *buf, size_t len)
{
	if (ms >= 3600000 && ms % 3600000 == 0)
		snprintf(buf, len, "%lld h", (long long) (ms / 3600000));
	else if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, len, "%lld s", (long long) (ms / 1000));
	else if (ms >= 1000)
		snprintf(buf, len, "%.1f s", ms / 1000.0);
	else
		snprintf(buf, len, "%lld ms", (long long) ms);
	return buf;
}

/*
 * Connect, or start connecting (async); conninfo supplies host, port and
 * database, user and appname (if not NULL) override it.
 */
static PGconn *
open_conn(const char *conninfo, const char *user, const char *appname,
		  bool async)
{
	const char *keys[4];
	const char *vals[4];
	int			n = 0;
	PGconn	   *conn;

	keys[n] = "dbname";
	vals[n++] = conninfo;
	if (user != NULL)
	{
		keys[n] = "user";
		vals[n++] = user;
	}
	keys[n] = "application_name";
	vals[n++] = appname;
	keys[n] = NULL;
	vals[n] = NULL;

	if (async)
		conn = PQconnectStartParams(keys, vals, 1);
	else
		conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD ||
		(!async && PQstatus(conn) != CONNECTION_OK))
		fail("connection as %s (application \"%s\") failed: %s",
			 user ? user : "default user", appname,
			 conn ? PQerrorMessage(conn) : "out of memory");
	return conn;
}

static PGconn *
connect_as(const char *conninfo, const char *user, const char *appname)
{
	return open_conn(conninfo, user, appname, false);
}

/* Connections being established at once by connect_many(). */
#define CONNECT_WINDOW	8

/*
 * Open n connections, connection i as the role and application names[i],
 * CONNECT_WINDOW at a time (backend start-up is the slow part and runs in
 * parallel), then run one statement on each, all at once, to warm its
 * caches so that its statement later is quick.
 */
static void
connect_many(const char *conninfo, const char *const *names, int n,
			 PGconn **conns)
{
	PostgresPollingStatusType *st = malloc(n * sizeof(*st));
	struct pollfd fds[CONNECT_WINDOW];
	int			pending[CONNECT_WINDOW];
	int			npending = 0;
	int			next = 0;
	int			done = 0;
	int			i;

	while (done < n)
	{
		int			rc;
		int			k;

		while (npending < CONNECT_WINDOW && next < n)
		{
			conns[next] = open_conn(conninfo, names[next], names[next], true);
			st[next] = PGRES_POLLING_WRITING;
			pending[npending++] = next++;
		}
		for (k = 0; k < npending; k++)
		{
			fds[k].fd = PQsocket(conns[pending[k]]);
			fds[k].events = st[pending[k]] == PGRES_POLLING_READING ?
				POLLIN : POLLOUT;
			fds[k].revents = 0;
		}
		rc = poll(fds, npending, 60000);
		if (rc < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (rc == 0)
			fail("no progress in 60 s while connecting");
		/* Backwards: a finished one is replaced by the last, already seen. */
		for (k = npending - 1; k >= 0 && rc > 0; k--)
		{
			int			j = pending[k];

			if (fds[k].revents == 0)
				continue;
			st[j] = PQconnectPoll(conns[j]);
			if (st[j] == PGRES_POLLING_FAILED)
				fail("connection as %s failed: %s", names[j],
					 PQerrorMessage(conns[j]));
			if (st[j] == PGRES_POLLING_OK)
			{
				pending[k] = pending[--npending];
				done++;
			}
		}
	}
	free(st);

	for (i = 0; i < n; i++)
		if (!PQsendQuery(conns[i], "BEGIN; SELECT pg_sleep_until(to_timestamp(0)); COMMIT"))
			fail("warm-up: %s", PQerrorMessage(conns[i]));
	for (i = 0; i < n; i++)
	{
		PGresult   *res;

		while ((res = PQgetResult(conns[i])) != NULL)
		{
			if (PQresultStatus(res) != PGRES_TUPLES_OK &&
				PQresultStatus(res) != PGRES_COMMAND_OK)
				fail("warm-up: %s", PQresultErrorMessage(res));
			PQclear(res);
		}
	}
}

/* Run a statement that must succeed; the caller clears the result. */
static PGresult *
exec_ok(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail("query failed: %s\n  query: %.200s", PQerrorMessage(conn), sql);
	return res;
}

/* "app=ms, app=ms": application names (and roles), limits in ms. */
static int
parse_apps(const char *spec, App *apps)
{
	char	   *copy = strdup(spec);
	char	   *save = NULL;
	char	   *tok;
	int			n = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
		 tok = strtok_r(NULL, ",", &save))
	{
		char	   *eq = strchr(tok, '=');
		char	   *end;

		while (*tok == ' ')
			tok++;
		if (eq == NULL || eq == tok || n >= MAX_APPS)
			fail("bad --apps entry \"%s\" (want name=ms, at most %d)", tok, MAX_APPS);
		*eq = '\0';
		snprintf(apps[n].name, sizeof(apps[n].name), "%s", tok);
		for (end = apps[n].name + strlen(apps[n].name);
			 end > apps[n].name && end[-1] == ' '; end--)
			end[-1] = '\0';
		apps[n].limit_ms = strtoll(eq + 1, &end, 10);
		if (*end != '\0' || apps[n].limit_ms <= 0)
			fail("bad limit in --apps entry \"%s\"", eq + 1);
		n++;
	}
	free(copy);
	if (n == 0)
		fail("--apps is empty");
	return n;
}

/* Append a SQL string literal. */
static void
append_literal(char *buf, size_t len, const char *s)
{
	size_t		pos = strlen(buf);

	if (pos + 2 * strlen(s) + 3 >= len)
		fail("SQL text too long");
	buf[pos++] = '\'';
	for (; *s; s++)
	{
		if (*s == '\'')
			buf[pos++] = '\'';
		buf[pos++] = *s;
	}
	buf[pos++] = '\'';
	buf[pos] = '\0';
}

/*
 * The sweeper's statement: terminate every session idle in transaction for
 * longer than its application's limit.  Other applications: no limit.
 */
static void
build_sweep_sql(const App *apps, int napps, char *buf, size_t len)
{
	int			i;

	snprintf(buf, len,
			 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
			 " WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')"
			 " AND now() - state_change > CASE application_name");
	for (i = 0; i < napps; i++)
	{
		size_t		pos;

		strncat(buf, " WHEN ", len - strlen(buf) - 1);
		append_literal(buf, len, apps[i].name);
		pos = strlen(buf);
		snprintf(buf + pos, len - pos, " THEN interval '%lld ms'",
				 (long long) apps[i].limit_ms);
	}
	strncat(buf, " END", len - strlen(buf) - 1);
}

static const char *const monitor_sql =
"SELECT pid, (extract(epoch FROM state_change) * 1000000)::int8"
" FROM pg_catalog.pg_stat_activity"
" WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')"
" AND backend_type = 'client backend'";

/*
 * Notice receiver of a session: with no query running, libpq hands the
 * FATAL error the server sends before closing the connection to it.
 */
static void
session_notice(void *arg, const PGresult *res)
{
	Session    *s = (Session *) arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

	if (severity == NULL || strcmp(severity, "FATAL") != 0)
		return;
	if (sqlstate != NULL && strcmp(sqlstate, "25P03") == 0)
		s->by = (detail != NULL && strstr(detail, "leakguard") != NULL) ?
			BY_LEAKGUARD : BY_BUILTIN;
	else if (sqlstate != NULL && strcmp(sqlstate, "57P01") == 0)
		s->by = BY_ADMIN;
	else
		s->by = BY_OTHER;
}

/* Quiet notice receiver for the monitoring connections. */
static void
quiet_notice(void *arg, const PGresult *res)
{
	(void) arg;
	(void) res;
}

static void
session_fail(Session *s, const char *why)
{
	const char *nl = strchr(why, '\n');

	note("session pid %d failed: %.*s", s->pid,
		 nl ? (int) (nl - why) : (int) strlen(why), why);
	s->state = SS_FAILED;
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
}

/* Read what arrived for a session whose statement is running. */
static void
session_read_results(Session *s, int64 t)
{
	if (!PQconsumeInput(s->conn))
	{
		session_fail(s, PQerrorMessage(s->conn));
		return;
	}
	while (!PQisBusy(s->conn))
	{
		PGresult   *res = PQgetResult(s->conn);
		ExecStatusType st;

		if (res == NULL)
		{
			s->state = SS_IDLE;
			s->idle_at = t;
			return;
		}
		st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		{
			session_fail(s, PQresultErrorMessage(res));
			PQclear(res);
			return;
		}
		PQclear(res);
	}
}

/* Something arrived on an idle session: its FATAL message, or the end. */
static void
session_watch(Session *s, int64 t)
{
	ClosedBy	before = s->by;
	bool		ok;
	bool		closed;

	/* PQconsumeInput() only reads; PQisBusy() parses, notices included. */
	ok = PQconsumeInput(s->conn);
	(void) PQisBusy(s->conn);
	closed = !ok || PQstatus(s->conn) == CONNECTION_BAD;
	if ((closed || s->by != before) && s->closed_at == 0)
		s->closed_at = t;
	if (closed)
	{
		if (s->by == BY_NONE)
			s->by = BY_EOF;
		s->eof_at = t;
		s->state = SS_CLOSED;
		PQfinish(s->conn);
		s->conn = NULL;
	}
}

/* Session lookup by pid: indexes sorted by pid. */
static Session *sort_sessions;

static int
cmp_by_pid(const void *a, const void *b)
{
	int			x = sort_sessions[*(const int *) a].pid;
	int			y = sort_sessions[*(const int *) b].pid;

	return (x > y) - (x < y);
}

static Session *
find_session(Session *s, const int *order, int n, int pid)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			p = s[order[mid]].pid;

		if (p == pid)
			return &s[order[mid]];
		if (p < pid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* Drain a monitoring connection; rows go to the callback. */
typedef void (*row_fn) (PGresult *res, void *arg);

static bool
drain(PGconn *conn, const char *what, row_fn fn, void *arg)
{
	if (!PQconsumeInput(conn))
		fail("%s connection: %s", what, PQerrorMessage(conn));
	while (!PQisBusy(conn))
	{
		PGresult   *res = PQgetResult(conn);

		if (res == NULL)
			return true;		/* done, connection free again */
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail("%s query failed: %s", what, PQresultErrorMessage(res));
		if (fn)
			fn(res, arg);
		PQclear(res);
	}
	return false;
}

typedef struct MonitorCtx
{
	Session    *s;
	int		   *order;
	int			n;
} MonitorCtx;

static void
monitor_rows(PGresult *res, void *arg)
{
	MonitorCtx *m = (MonitorCtx *) arg;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		Session    *s = find_session(m->s, m->order, m->n,
									 atoi(PQgetvalue(res, i, 0)));

		if (s != NULL && s->state_change == 0)
			s->state_change = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	}
}

static void
sweep_rows(PGresult *res, void *arg)
{
	int64	   *swept = (int64 *) arg;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), "t") == 0)
			(*swept)++;
}

static const char *const wait_sample_sql =
"SELECT wait_event_type = 'LWLock' AND wait_event = 'leakguard'"
" FROM pg_catalog.pg_stat_activity WHERE backend_type = 'leakguard'";

/* A wait event sample: one row if the worker runs. */
static void
wait_rows(PGresult *res, void *arg)
{
	ReadStats  *rd = (ReadStats *) arg;

	if (PQntuples(res) != 1)
		return;
	rd->samples++;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		rd->lock_samples++;
}

/* A reader's result: one row, one count. */
static void
reader_rows(PGresult *res, void *arg)
{
	int64	   *rows = (int64 *) arg;

	if (PQntuples(res) != 1 || PQnfields(res) != 1)
		fail("reader query returned %d rows of %d columns, want one count",
			 PQntuples(res), PQnfields(res));
	*rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
}

/*
 * Connect n sessions, session i of application i % napps, its statement
 * sent at start + i * stagger / n, and follow them until every one is
 * closed or the time is up.  With o->readers, that many more connections
 * run o->reader_sql back to back from just before the first statement is
 * sent until the end; what they did goes to *rd.  With o->wait_sample_ms
 * (and rd), one more connection samples the worker's wait event at that
 * interval over the same span.
 */
static Session *
run_sessions(const Options *o, const App *apps, int napps, ReadStats *rd)
{
	int			n = o->sessions;
	Session    *s = calloc(n, sizeof(Session));
	int		   *order = malloc(n * sizeof(int));
	int			nreaders = o->readers;
	struct pollfd *fds = malloc((n + 3 + nreaders) * sizeof(struct pollfd));
	int		   *fd_owner = malloc((n + 3 + nreaders) * sizeof(int));
	PGconn	  **readers = calloc(nreaders + 1, sizeof(PGconn *));
	int64	   *read_sent = calloc(nreaders + 1, sizeof(int64));
	int64		read_rows = 0;
	PGconn	   *sampler = NULL;
	bool		sa_busy = false;
	int64		sa_next = 0;
	PGconn	   *monitor;
	PGconn	   *sweeper = NULL;
	char		sweep_sql[SQL_LEN];
	MonitorCtx	mctx;
	bool		mon_busy = false;
	bool		sw_busy = false;
	int64		mon_next;
	int64		sw_next = 0;
	int64		start;
	int64		end_at;
	int64		max_limit_ms = 0;
	int64		sweeps = 0;
	int64		swept = 0;
	int			monitor_queries = 0;
	int			next_send = 0;
	int64		t_connect;
	int64		idle_from;
	const char **names = calloc(n, sizeof(char *));
	PGconn	  **conns = malloc(n * sizeof(PGconn *));
	char		stmt[128];
	int			i;

	for (i = 0; i < napps; i++)
		max_limit_ms = Max(max_limit_ms, apps[i].limit_ms);

	monitor = connect_as(o->conninfo, NULL, "lg_bench_monitor");
	PQsetNoticeReceiver(monitor, quiet_notice, NULL);
	if (o->sweep_every_ms > 0)
	{
		build_sweep_sql(apps, napps, sweep_sql, sizeof(sweep_sql));
		sweeper = connect_as(o->conninfo, NULL, "lg_bench_sweeper");
		PQsetNoticeReceiver(sweeper, quiet_notice, NULL);
	}
	for (i = 0; i < nreaders; i++)
	{
		readers[i] = connect_as(o->conninfo, NULL, "lg_bench_reader");
		PQsetNoticeReceiver(readers[i], quiet_notice, NULL);
	}
	if (rd != NULL)
	{
		memset(rd, 0, sizeof(*rd));
		rd->min_rows = INT64_MAX;
		if (o->wait_sample_ms > 0)
		{
			sampler = connect_as(o->conninfo, NULL, "lg_bench_sampler");
			PQsetNoticeReceiver(sampler, quiet_notice, NULL);
		}
	}
	else if (nreaders > 0)
		fail("readers without statistics");

	t_connect = now_us();
	for (i = 0; i < n; i++)
		names[i] = apps[i % napps].name;
	connect_many(o->conninfo, names, n, conns);
	for (i = 0; i < n; i++)
	{
		Session    *x = &s[i];

		x->app = i % napps;
		x->conn = conns[i];
		x->pid = PQbackendPID(x->conn);
		x->state = SS_READY;
		PQsetNoticeReceiver(x->conn, session_notice, x);
		order[i] = i;
	}
	free(conns);
	free(names);
	note("%d sessions connected in %.1f s", n, (now_us() - t_connect) / 1e6);
	sort_sessions = s;
	qsort(order, n, sizeof(int), cmp_by_pid);
	mctx.s = s;
	mctx.order = order;
	mctx.n = n;

	/*
	 * With --sync, every statement waits on the server until one common
	 * moment, so that all sessions go idle in transaction at once.
	 */
	start = now_us() + 200000;
	idle_from = start;
	snprintf(stmt, sizeof(stmt), "BEGIN; SELECT 1");
	if (o->sync_ms > 0)
	{
		idle_from = start + o->sync_ms * 1000;
		snprintf(stmt, sizeof(stmt),
				 "BEGIN; SELECT pg_sleep_until(to_timestamp(%lld.%06lld))",
				 (long long) (idle_from / 1000000),
				 (long long) (idle_from % 1000000));
	}
	for (i = 0; i < n; i++)
		s[i].send_at = start + o->stagger_ms * 1000 * i / n;
	mon_next = idle_from;
	if (sweeper)
		sw_next = start;
	end_at = idle_from + (o->stagger_ms + max_limit_ms + o->grace_ms) * 1000;

	sa_next = start;

	/* The readers start first, so that they run through the whole span. */
	for (i = 0; i < nreaders; i++)
	{
		if (!PQsendQuery(readers[i], o->reader_sql))
			fail("reader: %s", PQerrorMessage(readers[i]));
		read_sent[i] = now_us();
	}

	for (;;)
	{
		int64		now = now_us();
		int64		wake = end_at;
		int			open = 0;
		int			unknown = 0;
		int			nfds = 0;
		int			timeout;
		int			rc;
		int64		t;

		/* Send the statements that are due. */
		while (next_send < n && s[next_send].send_at <= now)
		{
			Session    *x = &s[next_send++];

			if (!PQsendQuery(x->conn, stmt))
				session_fail(x, PQerrorMessage(x->conn));
			else
				x->state = SS_SENT;
		}
		if (next_send < n)
			wake = Min(wake, s[next_send].send_at);

		for (i = 0; i < n; i++)
		{
			if (s[i].state == SS_SENT || s[i].state == SS_IDLE)
				open++;
			if (s[i].state == SS_READY || s[i].state == SS_SENT ||
				(s[i].state == SS_IDLE && s[i].state_change == 0))
				unknown++;
		}
		if (open == 0 && next_send >= n)
			break;
		if (now >= end_at)
			break;

		/* Ask for state_change until every session has been seen idle. */
		if (unknown > 0 && !mon_busy)
		{
			if (now >= mon_next)
			{
				if (!PQsendQuery(monitor, monitor_sql))
					fail("monitor: %s", PQerrorMessage(monitor));
				mon_busy = true;
				monitor_queries++;
				mon_next = now + o->monitor_every_ms * 1000;
			}
			else
				wake = Min(wake, mon_next);
		}
		if (sweeper && !sw_busy)
		{
			if (now >= sw_next)
			{
				if (!PQsendQuery(sweeper, sweep_sql))
					fail("sweeper: %s", PQerrorMessage(sweeper));
				sw_busy = true;
				sweeps++;
				sw_next += o->sweep_every_ms * 1000;
			}
			else
				wake = Min(wake, sw_next);
		}

		for (i = 0; i < n; i++)
		{
			if (s[i].state != SS_SENT && s[i].state != SS_IDLE)
				continue;
			fds[nfds].fd = PQsocket(s[i].conn);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			fd_owner[nfds++] = i;
		}
		if (mon_busy)
		{
			fds[nfds].fd = PQsocket(monitor);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			fd_owner[nfds++] = -1;
		}
		if (sw_busy)
		{
			fds[nfds].fd = PQsocket(sweeper);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			fd_owner[nfds++] = -2;
		}
		if (sampler && !sa_busy)
		{
			if (now >= sa_next)
			{
				if (!PQsendQuery(sampler, wait_sample_sql))
					fail("sampler: %s", PQerrorMessage(sampler));
				sa_busy = true;
				sa_next += o->wait_sample_ms * 1000;
				if (sa_next < now)
					sa_next = now + o->wait_sample_ms * 1000;
			}
			else
				wake = Min(wake, sa_next);
		}
		if (sa_busy)
		{
			fds[nfds].fd = PQsocket(sampler);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			fd_owner[nfds++] = -3;
		}
		for (i = 0; i < nreaders; i++)
		{
			fds[nfds].fd = PQsocket(readers[i]);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			fd_owner[nfds++] = -4 - i;
		}

		timeout = wake > now ? (int) ((wake - now + 999) / 1000) : 0;
		rc = poll(fds, nfds, timeout);
		t = now_us();
		if (rc < 0)
		{
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		for (i = 0; i < nfds && rc > 0; i++)
		{
			if (fds[i].revents == 0)
				continue;
			if (fd_owner[i] == -1)
				mon_busy = !drain(monitor, "monitor", monitor_rows, &mctx);
			else if (fd_owner[i] == -2)
				sw_busy = !drain(sweeper, "sweeper", sweep_rows, &swept);
			else if (fd_owner[i] == -3)
				sa_busy = !drain(sampler, "sampler", wait_rows, rd);
			else if (fd_owner[i] <= -4)
			{
				int			r = -4 - fd_owner[i];

				if (!drain(readers[r], "reader", reader_rows, &read_rows))
					continue;
				/* One read done: count it and start the next at once. */
				rd->reads++;
				rd->total_us += t - read_sent[r];
				rd->max_us = Max(rd->max_us, t - read_sent[r]);
				rd->min_rows = Min(rd->min_rows, read_rows);
				rd->max_rows = Max(rd->max_rows, read_rows);
				if (!PQsendQuery(readers[r], o->reader_sql))
					fail("reader: %s", PQerrorMessage(readers[r]));
				read_sent[r] = now_us();
			}
			else if (s[fd_owner[i]].state == SS_SENT)
				session_read_results(&s[fd_owner[i]], t);
			else
				session_watch(&s[fd_owner[i]], t);
		}
	}

	if (sweeper)
	{
		note("sweeper: %lld sweeps, %lld sessions terminated",
			 (long long) sweeps, (long long) swept);
		PQfinish(sweeper);
	}
	note("monitor: %d pg_stat_activity queries", monitor_queries);
	/* A read still running is not counted, and cancelled. */
	for (i = 0; i < nreaders; i++)
	{
		PGcancel   *cancel = PQgetCancel(readers[i]);
		char		errbuf[256];

		if (cancel == NULL || !PQcancel(cancel, errbuf, sizeof(errbuf)))
			note("could not cancel a reader's query");
		PQfreeCancel(cancel);
		PQfinish(readers[i]);
	}
	if (nreaders > 0)
		note("readers: %lld reads completed, mean %.1f ms, max %.1f ms",
			 (long long) rd->reads,
			 rd->reads ? rd->total_us / 1000.0 / rd->reads : 0.0,
			 rd->max_us / 1000.0);
	if (sampler)
	{
		note("worker seen waiting for leakguard's lock in %lld of %lld samples",
			 (long long) rd->lock_samples, (long long) rd->samples);
		PQfinish(sampler);
	}
	free(readers);
	free(read_sent);

	/*
	 * When leakguard signalled each session: its history, matched on pid and
	 * state_change (a pid may have served an earlier run too).
	 */
	if (o->lg_history)
	{
		PGresult   *res = exec_ok(monitor,
								  "SELECT pid, (extract(epoch FROM state_change) * 1000000)::int8,"
								  " (extract(epoch FROM terminated_at) * 1000000)::int8"
								  " FROM leakguard.terminations WHERE action = 'terminated'");

		for (i = 0; i < PQntuples(res); i++)
		{
			Session    *x = find_session(s, order, n, atoi(PQgetvalue(res, i, 0)));

			if (x != NULL && x->state_change != 0 &&
				x->state_change == strtoll(PQgetvalue(res, i, 1), NULL, 10))
				x->acted_at = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		}
		PQclear(res);
	}
	PQfinish(monitor);
	for (i = 0; i < n; i++)
		if (s[i].conn)
		{
			PQfinish(s[i].conn);
			s[i].conn = NULL;
		}
	free(order);
	free(fds);
	free(fd_owner);
	return s;
}

/* Overshoot figures of the sessions matching app (-1: all). */
typedef struct Summary
{
	int			n;
	int			closed;
	int			early;
	int			failed;
	int			open;			/* never closed */
	int			unknown;		/* closed, but state_change never seen */
	int			by[BY_COUNT];
	int			nover;
	int64	   *over;			/* sorted overshoots, us */
	int64		min_sc;
	int64		max_sc;
	int64		last_close;
	int64		last_eof;
	int			nlag;
	int64	   *lag;			/* sorted eof_at - closed_at, us */
	int			nacted;
	int64	   *acted;			/* sorted acted_at - deadline, us */
} Summary;

static void
summarise(const Session *s, int n, const App *apps, int app, Summary *sum)
{
	int			i;

	memset(sum, 0, sizeof(*sum));
	sum->over = malloc((n + 1) * sizeof(int64));
	sum->lag = malloc((n + 1) * sizeof(int64));
	sum->acted = malloc((n + 1) * sizeof(int64));
	for (i = 0; i < n; i++)
	{
		const Session *x = &s[i];
		int64		deadline;

		if (app >= 0 && x->app != app)
			continue;
		sum->n++;
		if (x->state == SS_FAILED)
		{
			sum->failed++;
			continue;
		}
		if (x->state != SS_CLOSED)
		{
			sum->open++;
			continue;
		}
		sum->closed++;
		sum->by[x->by]++;
		sum->last_close = Max(sum->last_close, x->closed_at);
		sum->last_eof = Max(sum->last_eof, x->eof_at);
		sum->lag[sum->nlag++] = x->eof_at - x->closed_at;
		if (x->state_change == 0)
		{
			sum->unknown++;
			continue;
		}
		if (sum->min_sc == 0 || x->state_change < sum->min_sc)
			sum->min_sc = x->state_change;
		sum->max_sc = Max(sum->max_sc, x->state_change);
		deadline = x->state_change + apps[x->app].limit_ms * 1000;
		sum->over[sum->nover++] = x->closed_at - deadline;
		if (x->acted_at != 0)
			sum->acted[sum->nacted++] = x->acted_at - deadline;
		if (x->closed_at < deadline)
			sum->early++;
	}
	qsort(sum->over, sum->nover, sizeof(int64), cmp_int64);
	qsort(sum->lag, sum->nlag, sizeof(int64), cmp_int64);
	qsort(sum->acted, sum->nacted, sizeof(int64), cmp_int64);
}

static void
free_summary(Summary *sum)
{
	free(sum->over);
	free(sum->lag);
	free(sum->acted);
}

static const char *
fmt_ms(int64 us, int decimals, char *buf, size_t len)
{
	snprintf(buf, len, "%.*f", decimals, us / 1000.0);
	return buf;
}

static void
print_overshoot(const Summary *sum, int decimals)
{
	char		a[32],
				b[32],
				c[32],
				d[32];

	if (sum->nover == 0)
	{
		printf(" - | - | - | - |");
		return;
	}
	printf(" %s | %s | %s | %s |",
		   fmt_ms(percentile(sum->over, sum->nover, 50), decimals, a, sizeof(a)),
		   fmt_ms(percentile(sum->over, sum->nover, 95), decimals, b, sizeof(b)),
		   fmt_ms(percentile(sum->over, sum->nover, 99), decimals, c, sizeof(c)),
		   fmt_ms(sum->over[sum->nover - 1], decimals, d, sizeof(d)));
}

/* p50 / max of sorted microsecond values, in ms; "-" when there are none. */
static void
print_p50_max(const int64 *sorted_us, int n)
{
	if (n == 0)
		printf(" - |");
	else
		printf(" %.1f / %.1f |", percentile(sorted_us, n, 50) / 1000.0,
			   sorted_us[n - 1] / 1000.0);
}

static void
print_closed_by(const Summary *sum)
{
	bool		first = true;
	int			b;

	for (b = BY_LEAKGUARD; b < BY_COUNT; b++)
	{
		if (sum->by[b] == 0)
			continue;
		printf("%s%s %d", first ? " " : ", ", closed_by_name[b], sum->by[b]);
		first = false;
	}
	if (first)
		printf(" -");
	printf(" |");
}

/* Warn about what is not a figure; returns whether something broke. */
static bool
check_summary(const char *label, const Session *s, int n, const App *apps,
			  const Summary *all)
{
	int			i;

	if (all->nlag > 0)
		note("%s: from the FATAL message to the end of the connection: p50 %.2f ms, max %.2f ms",
			 label, percentile(all->lag, all->nlag, 50) / 1000.0,
			 all->lag[all->nlag - 1] / 1000.0);
	if (all->unknown > 0)
		note("%s: WARNING: %d closed sessions were never seen idle by the monitor (no overshoot for them)",
			 label, all->unknown);
	if (all->early > 0)
	{
		fprintf(stderr, "\n!!! %s: %d SESSIONS TERMINATED BEFORE THEIR DEADLINE !!!\n",
				label, all->early);
		for (i = 0; i < n; i++)
		{
			int64		deadline;

			if (s[i].state != SS_CLOSED || s[i].state_change == 0)
				continue;
			deadline = s[i].state_change + apps[s[i].app].limit_ms * 1000;
			if (s[i].closed_at < deadline)
				fprintf(stderr, "!!!   pid %d, application %s, limit %lld ms: closed %.3f ms before its deadline (state_change %lld us, closed %lld us, by %s)\n",
						s[i].pid, apps[s[i].app].name,
						(long long) apps[s[i].app].limit_ms,
						(deadline - s[i].closed_at) / 1000.0,
						(long long) s[i].state_change,
						(long long) s[i].closed_at, closed_by_name[s[i].by]);
		}
		fputc('\n', stderr);
	}
	if (all->failed > 0 || all->open > 0)
	{
		fprintf(stderr, "\n!!! %s: %d sessions failed, %d were never closed !!!\n\n",
				label, all->failed, all->open);
		return true;
	}
	return false;
}

static int
cmd_precision(const Options *o)
{
	App			apps[MAX_APPS];
	int			napps = parse_apps(o->apps, apps);
	Session    *s;
	Summary		all;
	int64		lo = INT64_MAX;
	int64		hi = 0;
	char		b1[32],
				b2[32];
	bool		broken;
	int			a;

	for (a = 0; a < napps; a++)
	{
		lo = Min(lo, apps[a].limit_ms);
		hi = Max(hi, apps[a].limit_ms);
	}

	s = run_sessions(o, apps, napps, NULL);
	summarise(s, o->sessions, apps, -1, &all);
	broken = check_summary(o->label, s, o->sessions, apps, &all);

	/* @all | arm | sessions | limits | terminated | early | p50..max | by */
	printf("@all | %s | %d | %s%s%s | %d | %d |", o->label, all.n,
		   fmt_limit(lo, b1, sizeof(b1)), lo < hi ? "–" : "",
		   lo < hi ? fmt_limit(hi, b2, sizeof(b2)) : "",
		   all.closed, all.early);
	print_overshoot(&all, 2);
	print_p50_max(all.acted, all.nacted);	/* leakguard signalled after deadline */
	print_p50_max(all.lag, all.nlag);	/* FATAL to end of connection */
	print_closed_by(&all);
	printf("\n");
	/* For run.sh's comparisons: @precnum nover p50_us p99_us max_us label */
	if (all.nover > 0)
		printf("@precnum %d %lld %lld %lld %s\n", all.nover,
			   (long long) percentile(all.over, all.nover, 50),
			   (long long) percentile(all.over, all.nover, 99),
			   (long long) all.over[all.nover - 1], o->label);

	for (a = 0; a < napps; a++)
	{
		Summary		one;

		summarise(s, o->sessions, apps, a, &one);
		printf("@limit | %s | %s | %d | %d | %d |", o->label,
			   fmt_limit(apps[a].limit_ms, b1, sizeof(b1)),
			   one.n, one.closed, one.early);
		print_overshoot(&one, 2);
		printf("\n");
		free_summary(&one);
	}
	fflush(stdout);
	free_summary(&all);
	free(s);

	if (broken)
		return 1;
	if (all.early > 0 && o->fail_early)
		return 3;
	return 0;
}

static int
cmd_mass(const Options *o)
{
	App			apps[MAX_APPS];
	int			napps = parse_apps(o->apps, apps);
	Session    *s;
	Summary		all;
	char		b1[32],
				b2[32],
				b3[32],
				b4[32];
	int64		first_deadline;
	int64		last_deadline;
	bool		broken;

	if (napps != 1)
		fail("mass takes a single application (--apps name=ms)");

	s = run_sessions(o, apps, napps, NULL);
	summarise(s, o->sessions, apps, -1, &all);
	broken = check_summary(o->label, s, o->sessions, apps, &all);

	first_deadline = all.min_sc + apps[0].limit_ms * 1000;
	last_deadline = all.max_sc + apps[0].limit_ms * 1000;

	/*
	 * @mass | case | sessions | limit | went idle within | last terminated
	 * after first deadline | after last deadline | last connection end after
	 * last deadline | p50 | p99 | max | leakguard acted | early |
	 * terminated | by
	 */
	printf("@mass | %s | %d | %s |", o->label, all.n,
		   fmt_limit(apps[0].limit_ms, b1, sizeof(b1)));
	if (all.nover > 0)
		printf(" %s | %s | %s | %s |",
			   fmt_ms(all.max_sc - all.min_sc, 1, b1, sizeof(b1)),
			   fmt_ms(all.last_close - first_deadline, 1, b2, sizeof(b2)),
			   fmt_ms(all.last_close - last_deadline, 1, b3, sizeof(b3)),
			   fmt_ms(all.last_eof - last_deadline, 1, b4, sizeof(b4)));
	else
		printf(" - | - | - | - |");
	if (all.nover > 0)
		printf(" %s | %s | %s |",
			   fmt_ms(percentile(all.over, all.nover, 50), 1, b1, sizeof(b1)),
			   fmt_ms(percentile(all.over, all.nover, 99), 1, b2, sizeof(b2)),
			   fmt_ms(all.over[all.nover - 1], 1, b4, sizeof(b4)));
	else
		printf(" - | - | - |");
	print_p50_max(all.acted, all.nacted);	/* leakguard signalled after deadline */
	printf(" %d | %d |", all.early, all.closed);
	print_closed_by(&all);
	printf("\n");

	/*
	 * For run.sh's comparisons and the worker's batches: @massnum nover
	 * first_deadline last_deadline last_close last_eof p50 p99 max label,
	 * deadlines and moments in us since the epoch (CLOCK_REALTIME), the rest
	 * in us.
	 */
	if (all.nover > 0)
		printf("@massnum %d %lld %lld %lld %lld %lld %lld %lld %s\n", all.nover,
			   (long long) first_deadline, (long long) last_deadline,
			   (long long) all.last_close, (long long) all.last_eof,
			   (long long) percentile(all.over, all.nover, 50),
			   (long long) percentile(all.over, all.nover, 99),
			   (long long) all.over[all.nover - 1], o->label);
	fflush(stdout);
	free_summary(&all);
	free(s);

	if (broken)
		return 1;
	if (all.early > 0 && o->fail_early)
		return 3;
	return 0;
}

/*
 * Precision of enforcement while o->readers connections read the whole
 * history back to back: the overshoot figures of precision, plus what the
 * readers did.  With --solo-reads, first that many timed reads alone.
 */
static int
cmd_history(const Options *o)
{
	App			apps[MAX_APPS];
	int			napps = parse_apps(o->apps, apps);
	Session    *s;
	Summary		all;
	ReadStats	rd;
	char		b1[32],
				b2[32],
				b3[32],
				b4[32];
	bool		broken;
	int			i;

	if (napps != 1)
		fail("history takes a single application (--apps name=ms)");

	if (o->solo_reads > 0)
	{
		PGconn	   *conn = connect_as(o->conninfo, NULL, "lg_bench_reader");
		int64		total = 0;
		int64		lo = INT64_MAX;
		int64		hi = 0;
		int64		rows = 0;

		PQsetNoticeReceiver(conn, quiet_notice, NULL);
		for (i = 0; i < o->solo_reads; i++)
		{
			int64		t0 = now_us();
			PGresult   *res = exec_ok(conn, o->reader_sql);
			int64		d = now_us() - t0;

			reader_rows(res, &rows);
			PQclear(res);
			total += d;
			lo = Min(lo, d);
			hi = Max(hi, d);
		}
		PQfinish(conn);
		note("%d reads alone of %lld rows: mean %.1f ms, min %.1f, max %.1f",
			 o->solo_reads, (long long) rows, total / 1000.0 / o->solo_reads,
			 lo / 1000.0, hi / 1000.0);
		/* @histread | arm | reads | rows | mean ms | min ms | max ms */
		printf("@histread | %s | %d | %lld | %.1f | %.1f | %.1f |\n", o->label, o->solo_reads,
			   (long long) rows, total / 1000.0 / o->solo_reads,
			   lo / 1000.0, hi / 1000.0);
		fflush(stdout);
	}

	s = run_sessions(o, apps, napps, &rd);
	summarise(s, o->sessions, apps, -1, &all);
	broken = check_summary(o->label, s, o->sessions, apps, &all);

	/*
	 * @history | arm | readers | reads completed | mean read ms | rows per
	 * read | sessions | terminated | early | p50 | p99 | max | leakguard
	 * signalled after deadline | worker waiting for the lock | closed by
	 */
	printf("@history | %s | %d |", o->label, o->readers);
	if (rd.reads > 0)
	{
		if (rd.max_rows != rd.min_rows)
			snprintf(b1, sizeof(b1), "%lld–%lld",
					 (long long) rd.min_rows, (long long) rd.max_rows);
		else
			snprintf(b1, sizeof(b1), "%lld", (long long) rd.min_rows);
		printf(" %lld | %.1f | %s |", (long long) rd.reads,
			   rd.total_us / 1000.0 / rd.reads, b1);
	}
	else
		printf(" %s | - | - |", o->readers > 0 ? "0" : "-");
	printf(" %d | %d | %d |", all.n, all.closed, all.early);
	if (all.nover > 0)
		printf(" %s | %s | %s |",
			   fmt_ms(percentile(all.over, all.nover, 50), 1, b2, sizeof(b2)),
			   fmt_ms(percentile(all.over, all.nover, 99), 1, b3, sizeof(b3)),
			   fmt_ms(all.over[all.nover - 1], 1, b4, sizeof(b4)));
	else
		printf(" - | - | - |");
	print_p50_max(all.acted, all.nacted);	/* leakguard signalled after deadline */
	if (rd.samples > 0)
		printf(" %.1f%% (%lld / %lld) |", 100.0 * rd.lock_samples / rd.samples,
			   (long long) rd.lock_samples, (long long) rd.samples);
	else
		printf(" - |");
	print_closed_by(&all);
	printf("\n");
	/* For run.sh's ratio: @histnum readers p99_us nover */
	printf("@histnum %d %lld %d\n", o->readers,
		   all.nover > 0 ? (long long) percentile(all.over, all.nover, 99) : -1LL,
		   all.nover);
	fflush(stdout);
	free_summary(&all);
	free(s);

	if (broken)
		return 1;
	if (all.early > 0 && o->fail_early)
		return 3;
	return 0;
}

/*
 * CRC-32C (Castagnoli), as PostgreSQL's pg_crc32c computes it: reflected
 * polynomial 0x82F63B78, register started at 0xFFFFFFFF and inverted at
 * the end.  Table-driven, one byte at a time.
 */
static uint32_t crc32c_table[256];

static void
crc32c_init_table(void)
{
	uint32_t	i;

	for (i = 0; i < 256; i++)
	{
		uint32_t	c = i;
		int			k;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78 : c >> 1;
		crc32c_table[i] = c;
	}
}

static uint32_t
crc32c_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len-- > 0)
		crc = crc32c_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return crc;
}

/*
 * The statistics file (src/persist.c): a 32-byte header {magic, format,
 * app_size, event_size, napps, nevents, stats_reset}, napps + 1 application
 * entries, nevents events (oldest first), the CRC-32C of all that.  The
 * format number changes with the structures, not with this layout: it is
 * copied as found, and the sizes in the header are checked against the
 * file's length.
 */
#define LG_STATS_MAGIC		0x4C474431	/* "LGD1" */
#define LG_STATS_HDR_SIZE	32

static void
write_or_fail(FILE *f, const void *data, size_t len, const char *path,
			  uint32_t *crc)
{
	*crc = crc32c_update(*crc, data, len);
	if (fwrite(data, 1, len, f) != len)
		fail("could not write \"%s\": %s", path, strerror(errno));
}

/*
 * statsfile IN OUT N: a copy of leakguard's statistics file IN, with the
 * same header and application entries but N copies of its newest event,
 * and a new checksum.  IN is checked as the server checks its layout
 * (magic, sizes, checksum), which checks the checksum code here too; the
 * events are not looked into.
 */
static int
cmd_statsfile(const char *in, const char *out, long long nout)
{
	FILE	   *f;
	char	   *buf;
	long		len;
	uint32_t	magic,
				format,
				app_size,
				event_size,
				crc,
				stored;
	int32_t		napps,
				nevents,
				n32;
	size_t		apps_end;
	const char *event;
	long long	i;

	if (nout < 1 || nout > INT32_MAX)
		fail("statsfile: N must be between 1 and %d", INT32_MAX);
	crc32c_init_table();

	if ((f = fopen(in, "rb")) == NULL)
		fail("could not open \"%s\": %s", in, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
		fseek(f, 0, SEEK_SET) != 0)
		fail("could not seek in \"%s\": %s", in, strerror(errno));
	if (len < LG_STATS_HDR_SIZE + 4)
		fail("\"%s\" is too short (%ld bytes) for a leakguard statistics file", in, len);
	buf = malloc(len);
	if (buf == NULL || fread(buf, 1, len, f) != (size_t) len)
		fail("could not read \"%s\"", in);
	fclose(f);

	memcpy(&magic, buf + 0, 4);
	memcpy(&format, buf + 4, 4);
	memcpy(&app_size, buf + 8, 4);
	memcpy(&event_size, buf + 12, 4);
	memcpy(&napps, buf + 16, 4);
	memcpy(&nevents, buf + 20, 4);
	if (magic != LG_STATS_MAGIC)
		fail("\"%s\": magic 0x%08X, want 0x%08X", in, magic, LG_STATS_MAGIC);
	if (napps < 0 || nevents < 0 || app_size == 0 || event_size == 0 ||
		(uint64_t) len != LG_STATS_HDR_SIZE + ((uint64_t) napps + 1) * app_size +
		(uint64_t) nevents * event_size + 4)
		fail("\"%s\": %ld bytes do not match its header (%d apps of %u bytes, %d events of %u bytes)",
			 in, len, napps, app_size, nevents, event_size);
	crc = crc32c_update(0xFFFFFFFF, buf, len - 4) ^ 0xFFFFFFFF;
	memcpy(&stored, buf + len - 4, 4);
	if (crc != stored)
		fail("\"%s\": stored CRC-32C 0x%08X, computed 0x%08X", in, stored, crc);
	if (nevents < 1)
		fail("\"%s\" holds no event to copy", in);

	apps_end = LG_STATS_HDR_SIZE + ((size_t) napps + 1) * app_size;
	event = buf + apps_end + (size_t) (nevents - 1) * event_size;

	if ((f = fopen(out, "wb")) == NULL)
		fail("could not create \"%s\": %s", out, strerror(errno));
	crc = 0xFFFFFFFF;
	n32 = (int32_t) nout;
	write_or_fail(f, buf, 20, out, &crc);	/* magic .. napps */
	write_or_fail(f, &n32, 4, out, &crc);	/* nevents */
	write_or_fail(f, buf + 24, apps_end - 24, out, &crc);	/* stats_reset, apps */
	for (i = 0; i < nout; i++)
		write_or_fail(f, event, event_size, out, &crc);
	crc ^= 0xFFFFFFFF;
	if (fwrite(&crc, 1, 4, f) != 4 || fclose(f) != 0)
		fail("could not write \"%s\": %s", out, strerror(errno));
	note("%s: format %u, %d applications, %lld copies of the newest of %d events (%u bytes each), %.1f MB",
		 out, format, napps, nout, nevents, event_size,
		 (apps_end + (double) nout * event_size + 4) / 1e6);
	free(buf);
	return 0;
}

/* leakguard.status() counters. */
typedef struct ScanStat
{
	int64		scans;
	double		total_ms;
} ScanStat;

static ScanStat
read_status(PGconn *conn)
{
	PGresult   *res = exec_ok(conn, "SELECT scans, mean_scan_time FROM leakguard.status()");
	ScanStat	st;

	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		fail("leakguard.status() returned no scan counters");
	st.scans = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	st.total_ms = strtod(PQgetvalue(res, 0, 1), NULL) * st.scans;
	PQclear(res);
	return st;
}

/* Planning + execution time of one EXPLAIN ANALYZE, in ms. */
static double
explain_time(PGconn *conn, const char *sql)
{
	PGresult   *res = exec_ok(conn, sql);
	double		total = 0;
	int			found = 0;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		const char *line = PQgetvalue(res, i, 0);
		const char *p;

		if ((p = strstr(line, "Planning Time:")) != NULL ||
			(p = strstr(line, "Execution Time:")) != NULL)
		{
			total += strtod(strchr(p, ':') + 1, NULL);
			found++;
		}
	}
	PQclear(res);
	if (found != 2)
		fail("EXPLAIN output without planning and execution times");
	return total;
}

/* Scan times gathered over one or more windows of one arm. */
typedef struct ScanAcc
{
	int64		scans;
	double		total_ms;
	double	   *single;			/* times of single scans, us */
	int			nsingle;
	int			cap;
} ScanAcc;

/*
 * One window: status() every sample_ms.  The mean comes from the two ends;
 * a sample pair one scan apart gives that scan's time.
 */
static void
scan_window(PGconn *monitor, int64 window_ms, int64 sample_ms, ScanAcc *acc)
{
	ScanStat	first;
	ScanStat	prev;
	int64		t_end;
	int64		t_next;
	int			need = (int) (window_ms / Max(sample_ms, 1)) + 16;

	if (acc->nsingle + need > acc->cap)
	{
		acc->cap = acc->nsingle + need;
		acc->single = realloc(acc->single, sizeof(double) * acc->cap);
		if (acc->single == NULL)
			fail("out of memory");
	}
	first = prev = read_status(monitor);
	t_end = now_us() + window_ms * 1000;
	t_next = now_us();
	for (;;)
	{
		ScanStat	cur;

		t_next += sample_ms * 1000;
		sleep_us(t_next - now_us());
		cur = read_status(monitor);
		if (cur.scans == prev.scans + 1 && acc->nsingle < acc->cap)
			acc->single[acc->nsingle++] = (cur.total_ms - prev.total_ms) * 1000.0;
		prev = cur;
		if (now_us() >= t_end)
			break;
	}
	if (prev.scans <= first.scans)
		fail("leakguard did not scan during the window (is leakguard.mode enforce and the worker running?)");
	acc->scans += prev.scans - first.scans;
	acc->total_ms += prev.total_ms - first.total_ms;
}

/* Mean, median, p99 (nearest rank) and max of an arm, us. */
static void
scan_figures(ScanAcc *acc, double *mean, double *median, double *p99, double *max)
{
	*mean = acc->total_ms * 1000.0 / (double) acc->scans;
	if (acc->nsingle > 0)
	{
		int			rank = (int) ceil(0.99 * acc->nsingle);
		int			n = acc->nsingle;

		qsort(acc->single, n, sizeof(double), cmp_double);
		*median = (n % 2) ? acc->single[n / 2] :
			(acc->single[n / 2 - 1] + acc->single[n / 2]) / 2;
		*p99 = acc->single[Max(rank, 1) - 1];
		*max = acc->single[n - 1];
	}
	else
		*median = *p99 = *max = NAN;
}

/*
 * The idle-session limit that applies to app, in ms, as a backend sees it,
 * for sessions of the role of the same name (the scan part connects them so).
 */
static int64
idle_limit_of(PGconn *conn, const char *app)
{
	const char *params[1] = {app};
	PGresult   *res = PQexecParams(conn,
								   "SELECT coalesce((extract(epoch FROM idle_timeout) * 1000)::int8, 0)"
								   " FROM leakguard.limit_for($1::text, $1::text::name)",
								   1, NULL, params, NULL, NULL, 0);
	int64		ms;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail("leakguard.limit_for() failed: %s", PQerrorMessage(conn));
	ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return ms;
}

/*
 * Set leakguard.application_idle_timeouts to rules (ALTER SYSTEM), or reset
 * it (rules NULL), reload, wait until a backend sees the change (the
 * postmaster has then signalled the worker too), and let the worker scan
 * once, which it does after reloading.
 */
static void
set_idle_rules(PGconn *monitor, const char *rules, const char *app)
{
	char		sql[SQL_LEN];
	int64		t_end;
	PGresult   *res;

	if (rules != NULL)
	{
		char	   *lit = PQescapeLiteral(monitor, rules, strlen(rules));

		if (lit == NULL)
			fail("could not quote the idle rules: %s", PQerrorMessage(monitor));
		snprintf(sql, sizeof(sql),
				 "ALTER SYSTEM SET leakguard.application_idle_timeouts = %s", lit);
		PQfreemem(lit);
	}
	else
		snprintf(sql, sizeof(sql),
				 "ALTER SYSTEM RESET leakguard.application_idle_timeouts");
	PQclear(exec_ok(monitor, sql));
	PQclear(exec_ok(monitor, "SELECT pg_reload_conf()"));
	t_end = now_us() + 10 * 1000000;
	while ((idle_limit_of(monitor, app) > 0) != (rules != NULL))
	{
		if (now_us() > t_end)
			fail("the idle rules were not in effect 10 s after a reload");
		sleep_us(20 * 1000);
	}
	PQclear(exec_ok(monitor, "SET client_min_messages = warning"));
	PQclear(exec_ok(monitor, "SELECT leakguard.check()"));
	res = exec_ok(monitor, "SELECT config_error FROM leakguard.status()");
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		fail("leakguard configuration error: %s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* Client backends of app that leakguard.sessions gives a deadline. */
static int
with_deadline(PGconn *conn, const char *app)
{
	const char *params[1] = {app};
	PGresult   *res = PQexecParams(conn,
								   "SELECT count(*) FROM leakguard.sessions"
								   " WHERE application_name = $1 AND terminates_at IS NOT NULL",
								   1, NULL, params, NULL, NULL, 0);
	int			n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail("reading leakguard.sessions failed: %s", PQerrorMessage(conn));
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* Nanoseconds process pid (0: this one) has run, or -1 if unknown. */
static int64
cpu_ns_of(int pid)
{
	char		path[64];
	FILE	   *f;
	long long	ns = -1;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/schedstat");
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	if (fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	fclose(f);
	return ns;
}

/*
 * The floor: a child process that sleeps interval_ms at a time, with
 * poll() as the worker's latch does with epoll, for window_ms, then sends
 * the CPU time it used and its wake-ups through a pipe (*fd).
 */
static pid_t
floor_start(int64 interval_ms, int64 window_ms, int *fd)
{
	int			p[2];
	pid_t		pid;

	if (pipe(p) != 0)
		fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0)
	{
		int64		end = now_us() + window_ms * 1000;
		int64		r[2];

		close(p[0]);
		r[0] = cpu_ns_of(0);
		r[1] = 0;
		while (now_us() < end)
		{
			(void) poll(NULL, 0, (int) interval_ms);
			r[1]++;
		}
		r[0] = (r[0] < 0) ? -1 : cpu_ns_of(0) - r[0];
		if (write(p[1], r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* The floor's CPU time in ns (-1 if unknown); *wakes gets its wake-ups. */
static int64
floor_finish(pid_t pid, int fd, int64 *wakes)
{
	int64		r[2] = {-1, 0};

	if (read(fd, r, sizeof(r)) != sizeof(r))
		r[0] = -1;
	close(fd);
	(void) waitpid(pid, NULL, 0);
	*wakes = r[1];
	return r[0];
}

/* Apply a setting with ALTER SYSTEM (NULL: reset it) and reload. */
static void
alter_system(PGconn *monitor, const char *name, const char *value)
{
	char		sql[SQL_LEN];

	if (value != NULL)
	{
		char	   *lit = PQescapeLiteral(monitor, value, strlen(value));

		if (lit == NULL)
			fail("could not quote %s: %s", value, PQerrorMessage(monitor));
		snprintf(sql, sizeof(sql), "ALTER SYSTEM SET %s = %s", name, lit);
		PQfreemem(lit);
	}
	else
		snprintf(sql, sizeof(sql), "ALTER SYSTEM RESET %s", name);
	PQclear(exec_ok(monitor, sql));
}

/* The current value of a setting, as this connection sees it. */
static char *
show(PGconn *monitor, const char *name)
{
	char		sql[SQL_LEN];
	PGresult   *res;
	char	   *v;

	snprintf(sql, sizeof(sql), "SHOW %s", name);
	res = exec_ok(monitor, sql);
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/*
 * Reload and wait until this connection sees "name" = "want", then let
 * the worker scan once (it reloads first).
 */
static void
reload_until(PGconn *monitor, const char *name, const char *want)
{
	int64		t_end = now_us() + 10 * 1000000;

	PQclear(exec_ok(monitor, "SELECT pg_reload_conf()"));
	for (;;)
	{
		char	   *v = show(monitor, name);
		bool		done = (strcmp(v, want) == 0);

		free(v);
		if (done)
			break;
		if (now_us() > t_end)
			fail("%s was not %s 10 s after a reload", name, want);
		sleep_us(20 * 1000);
	}
	PQclear(exec_ok(monitor, "SET client_min_messages = warning"));
	PQclear(exec_ok(monitor, "SELECT leakguard.check()"));
}

/*
 * The worker's CPU at rest with the connected backends, nxact of them idle
 * in transaction: naptime 1 s with the rules in force, then each limit of
 * o->rest_limits added as the rule of an application nobody uses, which
 * sets the scan interval to half of it (at least 10 ms) while a session is
 * in a transaction.  The floor wakes every such interval.  Prints @rest
 * rows.
 */
static void
scan_rest(PGconn *monitor, const Options *o, int nconns, int nxact)
{
	char	   *rules = show(monitor, "leakguard.application_timeouts");
	char	   *copy = strdup(o->rest_limits);
	char	   *save = NULL;
	char	   *tok = NULL;
	bool		first = true;

	alter_system(monitor, "leakguard.naptime", "1s");
	reload_until(monitor, "leakguard.naptime", "1s");
	for (;;)
	{
		char		setting[SQL_LEN];
		int64		limit_ms = 0;
		int64		interval_ms = 1000;
		int64		cpu0,
					cpu1,
					floor_ns,
					floor_wakes;
		ScanStat	st0,
					st1;
		int64		t0,
					t1;
		int			fd;
		pid_t		fpid;
		PGresult   *res;
		int			pid;

		if (!first)
		{
			char		with[SQL_LEN];

			tok = strtok_r(tok == NULL ? copy : NULL, ",", &save);
			if (tok == NULL)
				break;
			limit_ms = atoll(tok);
			if (limit_ms < 1)
				fail("--rest-limits takes positive ms");
			interval_ms = (limit_ms / 2 < 10) ? 10 : limit_ms / 2;
			snprintf(with, sizeof(with), "%s%slgb_rest=%lldms", rules,
					 rules[0] ? ", " : "", (long long) limit_ms);
			alter_system(monitor, "leakguard.application_timeouts", with);
			reload_until(monitor, "leakguard.application_timeouts", with);
			snprintf(setting, sizeof(setting), "%d idle in transaction; naptime 1 s, a %lld ms rule",
					 nxact, (long long) limit_ms);
		}
		else
			snprintf(setting, sizeof(setting), "%d idle in transaction; naptime 1 s (default), rules of the scan",
					 nxact);
		first = false;
		sleep_us(500 * 1000);

		res = exec_ok(monitor, "SELECT pid FROM leakguard.status()");
		pid = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		fpid = floor_start(interval_ms, o->rest_window_ms, &fd);
		st0 = read_status(monitor);
		cpu0 = cpu_ns_of(pid);
		t0 = now_us();
		sleep_us(o->rest_window_ms * 1000);
		cpu1 = cpu_ns_of(pid);
		t1 = now_us();
		st1 = read_status(monitor);
		floor_ns = floor_finish(fpid, fd, &floor_wakes);
		if (cpu0 < 0 || cpu1 < 0 || floor_ns < 0)
			fail("cannot read /proc/PID/schedstat: the worker's CPU time is unknown");

		/*
		 * @rest | backends | setting | scans/s | worker CPU % | us per scan
		 * | floor wakes/s | floor CPU % | floor us per wake
		 */
		printf("@rest | %s | %d | %s | %.1f | %.3f%% | %.1f | %.1f | %.3f%% | %.1f |\n",
			   o->label, nconns, setting,
			   (st1.scans - st0.scans) * 1e6 / (t1 - t0),
			   (cpu1 - cpu0) / 10.0 / (t1 - t0),
			   (st1.scans > st0.scans) ? (cpu1 - cpu0) / 1000.0 / (st1.scans - st0.scans) : NAN,
			   floor_wakes * 1000.0 / o->rest_window_ms,
			   floor_ns / 10.0 / (o->rest_window_ms * 1000),
			   floor_wakes > 0 ? floor_ns / 1000.0 / floor_wakes : NAN);
		note("%d backends, %s: worker %.3f%% of a core at %.1f scans/s; floor %.3f%%",
			 nconns, setting, (cpu1 - cpu0) / 10.0 / (t1 - t0),
			 (st1.scans - st0.scans) * 1e6 / (t1 - t0),
			 floor_ns / 10.0 / (o->rest_window_ms * 1000));
	}
	alter_system(monitor, "leakguard.application_timeouts", NULL);
	alter_system(monitor, "leakguard.naptime", NULL);
	PQclear(exec_ok(monitor, "SELECT pg_reload_conf()"));
	free(rules);
	free(copy);
}

typedef struct ScanRow
{
	int			backends;
	int			idle;
	int64		scans;
	double		lg_mean_us;
	double		lg_median_us;
	double		lg_p99_us;
	double		lg_max_us;
	int			nsingle;
	double		sweep_us;
	/* with --idle-rules: the same backends with idle-session rules */
	int			deadlines;		/* sessions with a deadline, first arm */
	int			deadlines_idle; /* and second */
	int64		scans_idle;
	double		idle_mean_us;
	double		idle_median_us;
	double		idle_p99_us;
	double		idle_max_us;
} ScanRow;

static int
cmd_scan(const Options *o)
{
	App			apps[MAX_APPS];
	int			napps = parse_apps(o->apps, apps);
	int			steps[MAX_STEPS];
	int			nsteps = 0;
	ScanRow		rows[MAX_STEPS];
	char		sweep_sql[SQL_LEN];
	char		explain_sql[SQL_LEN + 64];
	PGconn	   *monitor;
	PGconn	  **conns;
	bool	   *idle;
	const char **names;
	int			nconns = 0;
	int			nidle = 0;
	int			maxn = 0;
	char	   *copy = strdup(o->steps);
	char	   *save = NULL;
	char	   *tok;
	int			k;

	if (napps != 1)
		fail("scan takes a single application (--apps name=ms)");
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
		 tok = strtok_r(NULL, ",", &save))
	{
		if (nsteps >= MAX_STEPS)
			fail("too many --steps");
		steps[nsteps] = atoi(tok);
		if (steps[nsteps] <= maxn)
			fail("--steps must be increasing and positive");
		maxn = steps[nsteps++];
	}
	free(copy);

	build_sweep_sql(apps, napps, sweep_sql, sizeof(sweep_sql));
	snprintf(explain_sql, sizeof(explain_sql),
			 "EXPLAIN (ANALYZE, TIMING OFF) %s", sweep_sql);

	monitor = connect_as(o->conninfo, NULL, "lg_bench_monitor");
	PQsetNoticeReceiver(monitor, quiet_notice, NULL);
	if (o->idle_rules != NULL && idle_limit_of(monitor, apps[0].name) > 0)
		fail("an idle-session limit already applies to %s: the arm without idle limits needs none",
			 apps[0].name);
	conns = calloc(maxn, sizeof(PGconn *));
	idle = calloc(maxn, sizeof(bool));
	names = calloc(maxn, sizeof(char *));
	for (k = 0; k < maxn; k++)
		names[k] = apps[0].name;

	for (k = 0; k < nsteps; k++)
	{
		int			want_idle = (int) ((int64) steps[k] * o->idle_pct / 100);
		ScanAcc		base = {0};
		ScanAcc		with_idle = {0};
		double	   *sweeps = malloc(sizeof(double) * o->explain_runs);
		int64		t0 = now_us();
		int			r;

		connect_many(o->conninfo, names, steps[k] - nconns, conns + nconns);
		nconns = steps[k];
		for (r = 0; r < nconns && nidle < want_idle; r++)
		{
			if (idle[r])
				continue;
			PQclear(exec_ok(conns[r], "BEGIN; SELECT 1"));
			idle[r] = true;
			nidle++;
		}
		note("%d client backends (%d idle in transaction, %d idle), connected in %.1f s",
			 nconns, nidle, nconns - nidle, (now_us() - t0) / 1e6);
		sleep_us(o->settle_ms * 1000);

		rows[k].backends = nconns;
		rows[k].idle = nidle;
		if (o->idle_rules == NULL)
			scan_window(monitor, o->window_ms, o->sample_ms, &base);
		else
		{
			/*
			 * A half window without idle rules, a whole one with, another
			 * half without: both arms centred on the same moment, so a
			 * drift over the step weighs on both alike.
			 */
			rows[k].deadlines = with_deadline(monitor, apps[0].name);
			scan_window(monitor, Max(o->window_ms / 2, 1), o->sample_ms, &base);
			set_idle_rules(monitor, o->idle_rules, apps[0].name);
			rows[k].deadlines_idle = with_deadline(monitor, apps[0].name);
			if (rows[k].deadlines_idle != nconns)
				fail("with idle rules \"%s\", %d of %d backends of %s have a deadline, not all (do the rules cover %s?)",
					 o->idle_rules, rows[k].deadlines_idle, nconns,
					 apps[0].name, apps[0].name);
			sleep_us(100 * 1000);
			scan_window(monitor, o->window_ms, o->sample_ms, &with_idle);
			set_idle_rules(monitor, NULL, apps[0].name);
			sleep_us(100 * 1000);
			scan_window(monitor, Max(o->window_ms / 2, 1), o->sample_ms, &base);
			rows[k].scans_idle = with_idle.scans;
			scan_figures(&with_idle, &rows[k].idle_mean_us, &rows[k].idle_median_us,
						 &rows[k].idle_p99_us, &rows[k].idle_max_us);
		}
		rows[k].scans = base.scans;
		rows[k].nsingle = base.nsingle;
		scan_figures(&base, &rows[k].lg_mean_us, &rows[k].lg_median_us,
					 &rows[k].lg_p99_us, &rows[k].lg_max_us);

		/* The sweep, at the same moment: same backends, same server. */
		for (r = 0; r < o->explain_runs; r++)
			sweeps[r] = explain_time(monitor, explain_sql) * 1000.0;
		qsort(sweeps, o->explain_runs, sizeof(double), cmp_double);
		rows[k].sweep_us = (o->explain_runs % 2) ?
			sweeps[o->explain_runs / 2] :
			(sweeps[o->explain_runs / 2 - 1] + sweeps[o->explain_runs / 2]) / 2;
		note("%d backends: leakguard %lld scans, mean %.1f us (%d single-scan samples); sweep median %.1f us",
			 nconns, (long long) rows[k].scans, rows[k].lg_mean_us, base.nsingle,
			 rows[k].sweep_us);
		if (o->idle_rules != NULL)
			note("%d backends, with idle rules '%s': leakguard %lld scans, mean %.1f us (%d single-scan samples)",
				 nconns, o->idle_rules, (long long) with_idle.scans,
				 rows[k].idle_mean_us, with_idle.nsingle);
		free(base.single);
		free(with_idle.single);
		free(sweeps);
	}

	/*
	 * @scan | label | backends | idle | scans | lg mean | lg median | lg p99
	 * | lg max | sweep | sweep/lg | lg growth | sweep growth
	 */
	for (k = 0; k < nsteps; k++)
		printf("@scan | %s | %d | %d | %lld | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f× | ×%.1f | ×%.1f |\n",
			   o->label, rows[k].backends, rows[k].idle, (long long) rows[k].scans,
			   rows[k].lg_mean_us, rows[k].lg_median_us,
			   rows[k].lg_p99_us, rows[k].lg_max_us,
			   rows[k].sweep_us, rows[k].sweep_us / rows[k].lg_mean_us,
			   rows[k].lg_mean_us / rows[0].lg_mean_us,
			   rows[k].sweep_us / rows[0].sweep_us);

	/*
	 * @scanidle | backends | idle in xact | idle | with a deadline | scans |
	 * mean | ratio | median | ratio | p99 | max, each "without / with"
	 */
	if (o->idle_rules != NULL)
		for (k = 0; k < nsteps; k++)
			printf("@scanidle | %d | %d | %d | %d / %d | %lld / %lld | %.1f / %.1f | %.2f | %.1f / %.1f | %.2f | %.1f / %.1f | %.1f / %.1f |\n",
				   rows[k].backends, rows[k].idle,
				   rows[k].backends - rows[k].idle,
				   rows[k].deadlines, rows[k].deadlines_idle,
				   (long long) rows[k].scans, (long long) rows[k].scans_idle,
				   rows[k].lg_mean_us, rows[k].idle_mean_us,
				   rows[k].idle_mean_us / rows[k].lg_mean_us,
				   rows[k].lg_median_us, rows[k].idle_median_us,
				   rows[k].idle_median_us / rows[k].lg_median_us,
				   rows[k].lg_p99_us, rows[k].idle_p99_us,
				   rows[k].lg_max_us, rows[k].idle_max_us);
	fflush(stdout);

	/*
	 * At rest: first with the transactions of the scan still open, then
	 * with every backend idle.
	 */
	if (o->rest_window_ms > 0)
	{
		scan_rest(monitor, o, nconns, nidle);
		for (k = 0; k < nconns; k++)
			if (idle[k])
				PQclear(exec_ok(conns[k], "COMMIT"));
		scan_rest(monitor, o, nconns, 0);
	}
	fflush(stdout);

	for (k = 0; k < nconns; k++)
		PQfinish(conns[k]);
	free(conns);
	free(idle);
	free(names);
	PQfinish(monitor);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: %s precision CONNINFO [--apps a=ms,...] [--sessions N] [--stagger MS]\n"
			"                 [--sweep-every MS] [--grace MS] [--monitor-every MS]\n"
			"                 [--sync MS] [--label TEXT] [--fail-early] [--leakguard-history]\n"
			"       %s mass CONNINFO --apps a=ms [--sessions N] [--sync MS (3000)] [--grace MS]\n"
			"                 [--label TEXT] [--fail-early] [--leakguard-history]\n"
			"       %s scan CONNINFO --apps a=ms [--steps 100,500,1000] [--idle-pct 25]\n"
			"                 [--settle MS] [--window MS] [--sample MS] [--explain-runs N]\n"
			"                 [--idle-rules RULES] [--label TEXT]\n"
			"                 [--rest-window MS (0: none)] [--rest-limits 50,20]\n"
			"       %s history CONNINFO --apps a=ms [--sessions N] [--stagger MS]\n"
			"                 [--readers N] [--reader-sql SQL] [--solo-reads N]\n"
			"                 [--wait-sample MS (10; 0: none)] [--grace MS]\n"
			"                 [--label TEXT] [--fail-early] [--leakguard-history]\n"
			"       %s statsfile IN OUT N\n"
			"Sessions connect as the role named like their application.\n",
			progname, progname, progname, progname, progname);
	exit(2);
}

int
main(int argc, char **argv)
{
	Options		o;
	const char *cmd;
	bool		sync_given = false;
	int			i;

	setvbuf(stderr, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "statsfile") == 0)
	{
		if (argc != 5)
			usage();
		return cmd_statsfile(argv[2], argv[3], atoll(argv[4]));
	}

	memset(&o, 0, sizeof(o));
	o.conninfo = argv[2];
	o.label = cmd;
	o.apps = "lgb_app1=1000,lgb_app2=1500,lgb_app3=2000,lgb_app4=2500";
	o.sessions = 200;
	o.stagger_ms = 1000;
	o.grace_ms = 5000;
	o.monitor_every_ms = 50;
	o.steps = "100,500,1000";
	o.idle_pct = 25;
	o.settle_ms = 1000;
	o.window_ms = 3000;
	o.sample_ms = 5;
	o.explain_runs = 20;
	o.reader_sql = "SELECT count(*) FROM leakguard.terminations";
	o.wait_sample_ms = 10;
	o.rest_limits = "50,20";

	for (i = 3; i < argc; i++)
	{
		const char *opt = argv[i];
		const char *val;

		if (strcmp(opt, "--fail-early") == 0)
		{
			o.fail_early = true;
			continue;
		}
		if (strcmp(opt, "--leakguard-history") == 0)
		{
			o.lg_history = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		val = argv[++i];
		if (strcmp(opt, "--apps") == 0)
			o.apps = val;
		else if (strcmp(opt, "--sync") == 0)
		{
			o.sync_ms = atoll(val);
			sync_given = true;
		}
		else if (strcmp(opt, "--label") == 0)
			o.label = val;
		else if (strcmp(opt, "--sessions") == 0)
			o.sessions = atoi(val);
		else if (strcmp(opt, "--stagger") == 0)
			o.stagger_ms = atoll(val);
		else if (strcmp(opt, "--sweep-every") == 0)
			o.sweep_every_ms = atoll(val);
		else if (strcmp(opt, "--grace") == 0)
			o.grace_ms = atoll(val);
		else if (strcmp(opt, "--monitor-every") == 0)
			o.monitor_every_ms = atoll(val);
		else if (strcmp(opt, "--steps") == 0)
			o.steps = val;
		else if (strcmp(opt, "--idle-pct") == 0)
			o.idle_pct = atoi(val);
		else if (strcmp(opt, "--settle") == 0)
			o.settle_ms = atoll(val);
		else if (strcmp(opt, "--window") == 0)
			o.window_ms = atoll(val);
		else if (strcmp(opt, "--sample") == 0)
			o.sample_ms = atoll(val);
		else if (strcmp(opt, "--explain-runs") == 0)
			o.explain_runs = atoi(val);
		else if (strcmp(opt, "--idle-rules") == 0)
			o.idle_rules = val;
		else if (strcmp(opt, "--rest-window") == 0)
			o.rest_window_ms = atoll(val);
		else if (strcmp(opt, "--rest-limits") == 0)
			o.rest_limits = val;
		else if (strcmp(opt, "--readers") == 0)
			o.readers = atoi(val);
		else if (strcmp(opt, "--reader-sql") == 0)
			o.reader_sql = val;
		else if (strcmp(opt, "--solo-reads") == 0)
			o.solo_reads = atoi(val);
		else if (strcmp(opt, "--wait-sample") == 0)
			o.wait_sample_ms = atoll(val);
		else
			usage();
	}
	if (o.sessions < 1 || o.stagger_ms < 0 || o.grace_ms < 0 ||
		o.monitor_every_ms < 1 || o.explain_runs < 1 || o.window_ms < 1 ||
		o.sample_ms < 1 || o.idle_pct < 0 || o.idle_pct > 100 || o.sync_ms < 0 ||
		o.readers < 0 || o.solo_reads < 0 || o.wait_sample_ms < 0 ||
		o.rest_window_ms < 0)
		usage();
	if ((o.readers > 0 || o.solo_reads > 0) && strcmp(cmd, "history") != 0)
		fail("--readers and --solo-reads are for the history subcommand");
	if (o.idle_rules != NULL && strcmp(cmd, "scan") != 0)
		fail("--idle-rules is for the scan subcommand");

	if (strcmp(cmd, "precision") == 0)
		return cmd_precision(&o);
	if (strcmp(cmd, "mass") == 0)
	{
		if (strcmp(o.label, "mass") == 0)
			o.label = "leakguard";
		o.stagger_ms = 0;
		if (!sync_given)
			o.sync_ms = 3000;
		return cmd_mass(&o);
	}
	if (strcmp(cmd, "scan") == 0)
		return cmd_scan(&o);
	if (strcmp(cmd, "history") == 0)
		return cmd_history(&o);
	usage();
	return 2;
}
