/*-------------------------------------------------------------------------
 *
 * leakguard.h
 *		What every part of leakguard shares: its name, the lengths of the texts
 *		it stores, the scan's bounds, the monotonic clock; and the map of
 *		the sources.
 *
 * leakguard terminates client sessions that stay idle in transaction, or
 * idle, longer than the limit set for their application_name, and refuses
 * connections beyond an application's quota.  The sources, in the order of
 * one pass (settings -> policy -> scan -> decide -> act -> record ->
 * present), each .c with the header of its subsystem:
 *
 *		leakguard.c	_PG_init, hook installation, worker registration
 *		settings.c	GUC definitions, check and assign hooks, the parsed
 *					rules, the policy in force (settings.h)
 *		rules.c		rule parser and glob matcher (plain C, fuzzed alone;
 *					rules.h)
 *		kinds.c		the kinds of limit: one row each (which sessions, from
 *					which start, which rules, SQLSTATE, message, counters;
 *					kinds.h)
 *		limits.c	what applies to one session: rule, timeout, exemption
 *					(sessionlimits.h)
 *		citus.c		Citus's internal connections (citus.h)
 *		names.c		the worker's cache of role and database names (names.h)
 *		policy.c	the mode the worker acts in, and what a reload must
 *					change to re-examine reported sessions (policy.h)
 *		scan.c		reading the backend status array (the worker's hot
 *					path; scan.h)
 *		tracker.c	per-slot periods, deadlines, candidates (tracker.h)
 *		measure_xid.c, measure_lock.c	the limits read at every scan:
 *					in transactions, and lock waits (measure.h)
 *		blocking.c	lock waiters and the sessions that block them
 *					(blocking.h)
 *		terminate.c	exemptions, re-check under ProcArrayLock, signal,
 *					victim marks (terminate.h)
 *		publish.c	statistics, history, marks, connection counts, the log
 *					line of a scan (publish.h)
 *		worker.c	the background worker's loop: signals, sleep, reload,
 *					check() (worker.h)
 *		prepared.c	the warning for prepared transactions left unfinished:
 *					the worker watches their dummy PGPROCs, a short-lived
 *					helper reads pg_prepared_xacts and logs (worker.h)
 *		shmem.c		shared state: worker status, statistics, history
 *					(shmem.h: the layout and its locking note; stats.h)
 *		persist.c	statistics file written at clean shutdown, read at start
 *					(persist.h)
 *		histogram.c	log-linear histograms of durations (plain C;
 *					histogram.h)
 *		episodes.c	each backend records its own finished idle periods and
 *					transactions; the worker folds them into the statistics
 *					(hooks.h)
 *		report.c	emit_log_hook rewriting the victim's FATAL message
 *					(hooks.h)
 *		quota.c		connection quotas: admission at authentication and
 *					at every change of application_name (quota.h)
 *		quotacount.c	shared connection counts per quota rule and the names
 *					it counts by, for admission in constant time (quota.h)
 *		sources.c	leak sources: the statement each ended session ran
 *					last, counted per application, role, database and
 *					kind (sources.h), kept in their own file
 *		fingerprint.c	a statement's text without its constants, hashed
 *					(plain C; fingerprint.h)
 *		sqlfuncs.c	SQL-callable functions behind the views (sqlfuncs.h)
 *		kindviews.c	the views of the kinds of limit
 *		suggest.c	suggest_limits(), suggested_settings(), suggested_changes()
 *		suggestmerge.c	suggested limits merged into rule settings in place,
 *					and the check of what that changes (plain C;
 *					suggestmerge.h)
 *
 * The locking rules of all shared state are in one place: shmem.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_H
#define LEAKGUARD_H

#include "portability/instr_time.h"

#define LG_NAME					"leakguard"

/* Stored length of a rule's text (longer rules are cut, with "..."). */
#define LG_RULE_TEXT_LEN		128
/* Stored length of a terminated session's last statement. */
#define LG_QUERY_TEXT_LEN		1024
/* Stored length of the last configuration error. */
#define LG_CONFIG_ERROR_LEN		1024
/* Stored length of the rules the worker uses, as status() shows them. */
#define LG_RULES_TEXT_LEN		(128 * 1024)
/* Room for the values of the policy in force, published in shared memory. */
#define LG_POLICY_LEN			(256 * 1024)
/*
 * The longest interval between two scans while a rule is qualified by role
 * or database: renamed and dropped roles and databases are seen this soon
 * (names.c).
 */
#define LG_NAMES_REFRESH_MS		1000
/* The shortest interval between two scans, whatever the limits. */
#define LG_MIN_SCAN_INTERVAL_MS	10
/* The longest a reader lets a waiting worker go first (lg_lock_reader). */
#define LG_READER_YIELD_US		1000
/* Seconds the postmaster waits before restarting a failed worker. */
#define LG_RESTART_SECONDS		1
/* application_name of the row that collects applications beyond the cap. */
#define LG_OVERFLOW_NAME		"(other applications)"

/*
 * Microseconds on a clock that no change of the system time moves
 * (CLOCK_MONOTONIC where there is one, as for EXPLAIN ANALYZE); its origin
 * is arbitrary, so only differences mean anything.  Deadlines are kept on
 * it: a step of the wall clock must not end a session early.
 */
static inline int64
lg_monotonic_us(void)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	return (int64) INSTR_TIME_GET_MICROSEC(now);
}

/*
 * Copy text into a buffer of "size" bytes, marking a cut with "...".  The
 * text is rule text from the configuration file, whose encoding the worker
 * (connected to no database) does not know: a cut never splits a UTF-8
 * sequence, and in a single-byte encoding at worst drops a few more bytes.
 */
static inline void
lg_copy_cut(char *dst, const char *src, size_t size)
{
	size_t		len = strlen(src);

	if (len < size)
		memcpy(dst, src, len + 1);
	else
	{
		len = size - 4;
		while (len > 0 && ((unsigned char) src[len] & 0xC0) == 0x80)
			len--;
		memcpy(dst, src, len);
		strcpy(dst + len, "...");
	}
}

#endif							/* LEAKGUARD_H */
