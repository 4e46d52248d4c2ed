/*-------------------------------------------------------------------------
 *
 * terminate.c
 *		The last look at a session before it is signalled, and the signal.
 *
 * The signal step of a scan (lg_signal_due) first decides who of the
 * candidates tracker.c and the measures found is exempt (catalog look-ups,
 * once per run of equal roles), then fills a batch of events from the
 * slots, and re-checks and signals them (lg_terminate_batch), all before
 * anything is published or logged (publish.c).
 *
 * Between the scan that found a session past its deadline and the moment
 * leakguard signals it, the session may have run a statement, ended, or its
 * pid may now belong to another backend.  So the worker takes
 * ProcArrayLock shared, which keeps every backend in the proc array (a
 * process leaves it, and its pid becomes reusable, only under the lock
 * held exclusive), and for each candidate:
 *
 *	1. re-reads its status slot: same pid and backend start (same process),
 *	   still in the same period of the kind of limit it is due for
 *	   (lg_kinds[]): in a state that kind applies to, with the same
 *	   state_change for a kind that starts there (the same idle period),
 *	   and the same xact_start for a kind about a transaction; for a kind
 *	   measured in transactions, its xmin or xid read again from its
 *	   PGPROC still older than the limit (against the next transaction ID
 *	   the scan read: the age can only have grown since).  For the
 *	   blocking limit, the same idle period means it still holds the locks
 *	   it held (a transaction releases its locks at its end, or at a
 *	   ROLLBACK TO SAVEPOINT, both statements); whether the waiter still
 *	   waits is not looked at again: it may have given up (lock_timeout,
 *	   a cancel) since the scan, a few milliseconds earlier;
 *	2. checks the pid is still in the proc array;
 *	3. fills the victim slot that lets the backend report why it dies
 *	   (report.c), then sends SIGTERM, or SIGINT for a kind whose action
 *	   is a cancel (lg_kinds[].action).
 *
 * The re-read of step 1 also copies the session's last statement, its query
 * id and the client address, for the history and the leak sources.
 *
 * The lock is taken for LG_TERMINATE_GROUP candidates at a time, not for a
 * whole batch: while it is held, every exclusive acquirer waits, among
 * them every commit that clears an xid and every backend that starts or
 * exits (the victims' own exits too), and a batch of a thousand sessions
 * takes tens of milliseconds to signal.  test/bench/procarray.sh measures
 * what that costs other sessions' commits.
 *
 * A candidate that fails a check is not signalled and the reason is
 * returned, to be counted and kept in the history.  The remaining window is
 * the time between step 1 and the signal, a few microseconds, during which
 * the client could send a new statement (or, for a session over its
 * transaction age that is running one, commit and begin another); it would
 * then fail with the same FATAL message.  A cancel (the statement limit)
 * that arrives after its statement ended is ignored by the backend, idle
 * between commands, or cancels the next statement, as pg_cancel_backend()
 * would; that statement's error then keeps PostgreSQL's own message, for
 * the victim mark names the statement it was for (lg_victim_take()).
 *
 * The idle time recorded is measured on the monotonic clock from the start
 * of the idle period as the worker estimated it (tracker.c), so a step of
 * the system clock does not inflate it.
 *
 * Shared state: LeakguardVictim slots, each under its own spinlock; the
 * backend status array, read by the st_changecount protocol (scan.c);
 * ProcArrayLock, taken shared and held only here, with no other lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "kinds.h"
#include "leakguard.h"
#include "measure.h"
#include "policy.h"
#include "scan.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "stats.h"
#include "terminate.h"
#include "tracker.h"

#include <signal.h>

#include "access/xact.h"
#include "portability/instr_time.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/timestamp.h"

static void
lg_victim_mark(int slot, const LeakguardEvent *ev)
{
	LeakguardVictim *v = &lg_shared->victims[slot];

	SpinLockAcquire(&v->mutex);
	v->pid = ev->pid;
	v->kind = ev->kind;
	v->backend_start = ev->backend_start;
	v->query_start = ev->query_start;
	v->lasted_us = ev->lasted_us;
	v->limit = ev->limit;
	v->xmin_age = ev->xmin_age;
	v->blocked_us = ev->blocked_us;
	v->nblocked = ev->nblocked;
	memcpy(v->appname, ev->appname, NAMEDATALEN);
	memcpy(v->rule, ev->rule, LG_RULE_TEXT_LEN);
	SpinLockRelease(&v->mutex);
}

static void
lg_victim_clear(int slot)
{
	LeakguardVictim *v = &lg_shared->victims[slot];

	SpinLockAcquire(&v->mutex);
	v->pid = 0;
	SpinLockRelease(&v->mutex);
}

/*
 * Decide and, in enforce mode, signal each of the n candidates, whose event
 * identity fields the caller filled; complete each event.  Called by the
 * worker outside LeakguardShared->lock.  *lock_wait_ms gets the time spent
 * waiting for ProcArrayLock.
 */
void
lg_terminate_batch(LeakguardTermination *items, int n, int mode,
				   double *lock_wait_ms)
{
	int			group = (LG_TERMINATE_GROUP > 0) ? LG_TERMINATE_GROUP : n;
	int			i;

	*lock_wait_ms = 0;
	for (i = 0; i < n; i++)
	{
		LeakguardTermination *t = &items[i];
		LeakguardEvent *ev = &t->event;
		LeakguardBackend now;
		bool		alive;

		if (i % group == 0)
		{
			instr_time	before;
			instr_time	after;

			INSTR_TIME_SET_CURRENT(before);
			LWLockAcquire(ProcArrayLock, LW_SHARED);
			INSTR_TIME_SET_CURRENT(after);
			INSTR_TIME_SUBTRACT(after, before);
			*lock_wait_ms += INSTR_TIME_GET_MILLISEC(after);
		}

		alive = lg_status_read_full(t->slot, &now, &ev->client_addr, ev->query);
		t->query_id = now.query_id;
		ev->at = lg_clock_now();
		ev->lasted_us = lg_monotonic_us() - t->origin_us;

		if (!alive || now.type != B_BACKEND || now.pid != ev->pid ||
			now.proc_start != ev->backend_start ||
			BackendPidGetProcWithLock(ev->pid) == NULL)
		{
			/* What was read, if anything, belongs to another backend. */
			ev->action = LG_ACTION_GONE;
			memset(&ev->client_addr, 0, sizeof(ev->client_addr));
			memset(ev->query, 0, sizeof(ev->query));
			t->query_id = 0;
		}
		else if (!lg_kinds[ev->kind].applies(now.state, now.xact_start) ||
				 lg_kind_period_since(ev->kind, now.state_start,
									  now.xact_start, now.activity_start) !=
				 lg_kind_period_since(ev->kind, ev->state_change,
									  ev->xact_start, ev->query_start) ||
				 (lg_kinds[ev->kind].in_transaction &&
				  now.xact_start != ev->xact_start))
			ev->action = LG_ACTION_BECAME_ACTIVE;
		else if (lg_kinds[ev->kind].measure == LG_MEASURE_XID_AGE &&
				 (ev->xmin_age = lg_backend_xid_age(t->slot, ev->pid, true)) <=
				 ev->limit)
			ev->action = LG_ACTION_BECAME_ACTIVE;
		else if (t->superuser)
			ev->action = LG_ACTION_SUPERUSER;
		else if (mode == LG_MODE_DRY_RUN)
			ev->action = LG_ACTION_DRY_RUN;
		else
		{
			bool		cancel = (lg_kinds[ev->kind].action == LG_ACT_CANCEL);
			int			sig = cancel ? SIGINT : SIGTERM;

			lg_victim_mark(t->slot, ev);
#ifndef WIN32
			/* Backends lead their own process group, as pg_signal_backend knows. */
			if (kill(-ev->pid, sig) == 0)
#else
			if (kill(ev->pid, sig) == 0)
#endif
				ev->action = cancel ? LG_ACTION_CANCELLED : LG_ACTION_TERMINATED;
			else
			{
				lg_victim_clear(t->slot);
				ev->action = LG_ACTION_GONE;
			}
		}

		if ((i + 1) % group == 0 || i == n - 1)
			LWLockRelease(ProcArrayLock);
	}
}

/*
 * In the victim backend: take the mark the worker left for this very
 * process, if any, and if it is for a kind whose action is "action",
 * clearing it; for a cancel, only if it is for the statement running now
 * (a mark for an earlier one, whose cancel came too late or was caught by
 * an exception block, is cleared and not taken).  Safe in error
 * reporting: a spinlock only.
 */
bool
lg_victim_take(LeakguardVictim *out, LeakguardKindAction action)
{
	LeakguardVictim *v;
	int			slot = LG_MY_STATUS_SLOT();
	bool		mine = false;

	if (lg_shared == NULL || slot < 0 || slot >= MaxBackends)
		return false;
	v = &lg_shared->victims[slot];

	SpinLockAcquire(&v->mutex);
	if (v->pid == MyProcPid && v->backend_start == MyStartTimestamp &&
		v->kind >= 0 && v->kind < LG_NUM_KINDS &&
		lg_kinds[v->kind].action == action)
	{
		if (action == LG_ACT_CANCEL &&
			v->query_start != GetCurrentStatementStartTimestamp())
		{
			v->pid = 0;
			SpinLockRelease(&v->mutex);
			return false;
		}
		out->kind = v->kind;
		out->query_start = v->query_start;
		out->lasted_us = v->lasted_us;
		out->limit = v->limit;
		out->xmin_age = v->xmin_age;
		out->blocked_us = v->blocked_us;
		out->nblocked = v->nblocked;
		memcpy(out->appname, v->appname, NAMEDATALEN);
		memcpy(out->rule, v->rule, LG_RULE_TEXT_LEN);
		v->pid = 0;
		mine = true;
	}
	SpinLockRelease(&v->mutex);
	return mine;
}

/*
 * Signal the sessions whose deadline has passed: first decide who is
 * exempt (catalog look-ups), then re-check and signal them all
 * (terminate.c).  Publishing and logging come after, so
 * that when many sessions expire together the signals go out at once,
 * rather than queueing behind bookkeeping or the exits of the sessions
 * signalled first.  Runs inside the transaction lg_scan() opened; returns
 * the number of events it put in batch ([MaxBackends]).
 */
int
lg_signal_due(int ncand, LeakguardTermination *batch, double *exempt_ms,
			  double *lock_wait_ms)
{
	instr_time	start;
	instr_time	elapsed;
	Oid			last_userid = InvalidOid;
	LeakguardExempt last_exempt = LG_EXEMPT_NONE;
	int			n = 0;
	int			i;

	INSTR_TIME_SET_CURRENT(start);
	for (i = 0; i < ncand; i++)
	{
		int			slot = lg_tracker.candidates[i];
		LgSlot	   *s = &lg_tracker.slots[slot];
		LeakguardExempt exempt;
		LeakguardTermination *t;
		const LeakguardLimit *limit;
		LgPeriod   *p;
		int64		deadline_us;
		int			k;

		/* The kind of limit it is due for, or its earliest deadline's. */
		k = lg_tracker.candidate_kinds[i];
		if (k < 0)
			k = lg_slot_next_kind(s, &deadline_us);
		if (k < 0)
			continue;
		p = &s->periods[k];

		/*
		 * Sessions due together are mostly of one role (one application's
		 * pool): look each role up once per run of equal roles.
		 */
		if (s->userid != last_userid || !OidIsValid(last_userid))
		{
			last_userid = s->userid;
			last_exempt = lg_role_exemption(s->userid);
		}
		exempt = last_exempt;

		if (exempt == LG_EXEMPT_ROLE)
		{
			p->reported = true;
			continue;
		}
		t = &batch[n++];
		memset(t, 0, sizeof(*t));
		t->slot = slot;
		t->superuser = (exempt == LG_EXEMPT_SUPERUSER);
		t->origin_us = p->origin_us;
		limit = &s->limits[k];
		t->event.pid = s->pid;
		t->event.kind = k;
		t->event.backend_start = s->proc_start;
		t->event.xact_start = s->xact_start;
		t->event.state_change =
			(lg_kinds[k].period_start == LG_START_STATE_CHANGE) ? p->since : 0;
		t->event.query_start =
			(lg_kinds[k].period_start == LG_START_QUERY) ? p->since : 0;
		t->event.datid = s->datid;
		t->event.userid = s->userid;
		t->event.limit = limit->value;
		if (k == LG_KIND_BLOCKING)
		{
			const LgBlocked *blocked = lg_blocking_of(slot);

			t->event.nblocked = blocked->nblocked;
			t->event.blocked_us = blocked->blocked_us;
			memcpy(t->event.blocked_pids, blocked->pids,
				   sizeof(t->event.blocked_pids));
		}
		memcpy(t->event.appname, s->appname, NAMEDATALEN);
		memcpy(t->event.rule, limit->rule, LG_RULE_TEXT_LEN);
	}

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	*exempt_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	*lock_wait_ms = 0;
	if (n > 0)
		lg_terminate_batch(batch, n, lg_effective_mode(), lock_wait_ms);
	return n;
}
