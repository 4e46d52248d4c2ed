/*-------------------------------------------------------------------------
 *
 * tracker.c
 *		What the worker remembers of each backend slot between scans: the
 *		periods of each kind of limit, their deadlines, the candidates.
 *
 * A scan (worker.c) checks the status slot of every client backend
 * (scan.c), reads again only those written since the last scan, and keeps
 * per-slot state in local memory to follow each period of each kind of
 * limit on sessions (lg_kinds[]: idle in transaction, idle outside one, in
 * one transaction); it computes each session's deadline, the earliest
 * start of a period + the limit of its kind, and collects the sessions
 * whose deadline has passed.  The limits that are no deadline are read at
 * every scan by measure_xid.c and measure_lock.c, which add to the same
 * candidates.
 *
 * Deadlines are kept on the monotonic clock (lg_monotonic_us), not on the
 * system clock, which an NTP correction or a resumed virtual machine can
 * step forward by hours: a session is never terminated before it has been
 * idle for its limit as that clock measures it, from the moment a scan
 * first saw the idle period, plus the idle time it had then.  That idle
 * time is state_change's age by the system clock, but never more than the
 * time since the previous scan, which saw the slot without this period;
 * only the first scan of a worker has no such bound.  The idle times the
 * worker records (log, history, statistics, the victim's message) are
 * measured the same way.  A build with LG_FAULT_CLOCK_OFFSET_FILE defined
 * offsets the worker's system clock by what that file holds, for the tests
 * (lg_clock_now).
 *
 * All memory the scan needs is allocated once at start: no allocation per
 * scan, no SQL, no catalog access unless a deadline has passed, or, while
 * a rule is qualified by role or database, to look up the name of a role
 * or database the worker has not seen yet (names.c).  A session
 * whose slot did not change costs one load and a comparison: its deadline,
 * rule and statistics entry are kept from when it last changed.
 *
 * A transaction's age is measured like an idle period, from xact_start:
 * the slot of a session running statements changes at every one, and is
 * read again, but its transaction period goes on while xact_start stays.
 *
 * What the worker recorded for each period (terminated, dry_run, ...) is
 * kept in shared memory (LeakguardMark), so a restarted worker neither
 * signals nor counts the same period twice (lg_slot_start_period).
 *
 * Rules qualified by role or database need the session's role and database
 * names: the worker keeps them per OID (names.c), looked up once, and only
 * while some rule is qualified.
 *
 * Shared state: reads the LeakguardMark slots, the worker's own (no lock);
 * everything else here is the worker's local memory (lg_tracker).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "compat.h"
#include "kinds.h"
#include "names.h"
#include "scan.h"
#include "sessionlimits.h"
#include "shmem.h"
#include "stats.h"
#include "tracker.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

LgTracker	lg_tracker = {.any_busy = true,.config_generation = 1};

/* config_generation the counts and deadlines were computed under. */
static uint64 lg_seen_generation = 0;

/*
 * The system clock as the worker reads it.  In a fault-injection build
 * (tests only; never defined in a normal build) it is offset by the
 * milliseconds written in the file LG_FAULT_CLOCK_OFFSET_FILE of the data
 * directory, to step the worker's clock without touching the machine's.
 */
TimestampTz
lg_clock_now(void)
{
	TimestampTz now = GetCurrentTimestamp();

#ifdef LG_FAULT_CLOCK_OFFSET_FILE
	{
		FILE	   *f = fopen(LG_FAULT_CLOCK_OFFSET_FILE, "r");
		long long	offset_ms;

		if (f != NULL)
		{
			if (fscanf(f, "%lld", &offset_ms) == 1)
				now += (TimestampTz) offset_ms * 1000;
			fclose(f);
		}
	}
#endif
	return now;
}

/*
 * End the slot's period of kind k.  One idle in transaction is an episode
 * of the statistics: count it, unless it was counted when it was
 * terminated.  It ended at "end" by the system clock, and before "now_us"
 * on the monotonic clock, which bounds it should the system clock have
 * been stepped.
 */
static void
lg_slot_end_period(LgSlot *s, int k, TimestampTz end, int64 now_us)
{
	LgPeriod   *p = &s->periods[k];

	if (p->active && k == LG_KIND_IDLE_IN_XACT && !s->counted)
	{
		LgEndedEpisode *e = &lg_tracker.ended[lg_tracker.nended++];

		memcpy(e->appname, s->appname, NAMEDATALEN);
		e->userid = s->userid;
		e->idle_us = Min(Max(end - p->since, 0),
						 Max(now_us - p->origin_us, 0));
	}
	p->active = false;
}

/* The backend of the slot is gone, or another: end every period. */
static void
lg_slot_end_periods(LgSlot *s, TimestampTz end, int64 now_us)
{
	for (int k = 0; k < LG_NUM_KINDS; k++)
		lg_slot_end_period(s, k, end, now_us);
}

/*
 * When the backend left the period that began at "since": at the start of
 * the first statement after it.  The status array keeps only the latest
 * statement's start and the latest state change, so take the earlier of
 * those that come after it.
 */
static TimestampTz
lg_period_end(TimestampTz since, const LeakguardBackend *b, TimestampTz now)
{
	TimestampTz end = now;

	if (b->state_start > since && b->state_start < end)
		end = b->state_start;
	if (b->activity_start > since && b->activity_start < end)
		end = b->activity_start;
	return end;
}

/* The start of the backend's period of kind k (lg_kinds[].period_start). */
static TimestampTz
lg_period_since(int k, const LeakguardBackend *b)
{
	return lg_kind_period_since(k, b->state_start, b->xact_start,
								b->activity_start);
}

/* The slot's backend leaves its statistics entry (connections). */
static void
lg_slot_leave(LgSlot *s)
{
	if (s->entry != NULL)
		lg_tracker.left[lg_tracker.nleft++] = s->entry;
	s->entry = NULL;
}

static void
lg_slot_start(LgSlot *s, const LeakguardBackend *b)
{
	s->pid = b->pid;
	s->proc_start = b->proc_start;
	s->appname[0] = '\0';
	s->entry = NULL;
	s->limit_generation = 0;
	for (int k = 0; k < LG_NUM_KINDS; k++)
		s->periods[k].active = false;
	s->signalled = false;
	s->superuser_kinds = 0;
	s->counted = false;
}

/*
 * The backend entered a period of kind k, which began at "since" by the
 * system clock: estimate its start on the monotonic clock, and take up what
 * a previous worker recorded for it.
 */
static void
lg_slot_start_period(int slot, LgSlot *s, int k, TimestampTz since,
					 TimestampTz now, int64 now_us)
{
	LgPeriod   *p = &s->periods[k];
	LeakguardMark *m = LG_MARK(slot, k);
	bool		recorded;
	int64		age_us;

	p->active = true;
	p->since = since;

	/*
	 * How long it has lasted: by the system clock, but not longer than
	 * since the previous scan, which saw the slot without this period (it
	 * changed since).
	 */
	age_us = Max(now - since, 0);
	if (lg_tracker.prev_scan_us != 0)
		age_us = Min(age_us, now_us - lg_tracker.prev_scan_us);
	p->origin_us = now_us - age_us;

	/* A previous worker may have handled this period. */
	recorded = (m->pid == s->pid && m->backend_start == s->proc_start &&
				m->since == since);
	p->last_action = recorded ? m->action : -1;
	if (recorded && m->action == LG_ACTION_TERMINATED)
		s->signalled = true;
	if (k == LG_KIND_IDLE_IN_XACT)
		s->counted = recorded && m->action == LG_ACTION_TERMINATED;
	p->reported = recorded && m->action != LG_ACTION_TERMINATED &&
		!lg_tracker.recheck_reported;
}

/*
 * The kind whose deadline (on the monotonic clock) comes first among the
 * periods the slot is in that are not handled yet, or -1 if none has one;
 * its deadline in *deadline_us.
 */
int
lg_slot_next_kind(const LgSlot *s, int64 *deadline_us)
{
	int			next = -1;

	*deadline_us = 0;
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LgPeriod *p = &s->periods[k];
		int64		d;

		if (!p->active || p->reported || s->limits[k].value <= 0 ||
			lg_kinds[k].measure != LG_MEASURE_TIME)
			continue;
		d = p->origin_us + s->limits[k].value * INT64CONST(1000);
		if (next < 0 || d < *deadline_us)
		{
			next = k;
			*deadline_us = d;
		}
	}
	return next;
}

/*
 * Follow one status slot that changed since it was last read: its backend,
 * its periods, its name.  "now" is the system clock and "now_us" the
 * monotonic clock, read in that order at the start of the scan.  Returns
 * the earliest deadline of the periods it is in on the monotonic clock, 0 if
 * none.
 */
static int64
lg_follow_slot(int slot, const LeakguardBackend *b, bool alive, TimestampTz now,
			   int64 now_us)
{
	LgSlot	   *s = &lg_tracker.slots[slot];
	bool		in_period = false;
	int64		deadline_us;
	int			k;

	lg_tracker.xid_watch[slot / 32] &= ~((uint32) 1 << (slot % 32));
	lg_tracker.busy[slot / 32] &= ~((uint32) 1 << (slot % 32));
	if (!alive || b->type != B_BACKEND || lg_state_starting(b->state))
	{
		if (s->pid != 0)
		{
			lg_slot_end_periods(s, now, now_us);
			lg_slot_leave(s);
			s->pid = 0;
			lg_tracker.nclients--;
			lg_tracker.following[slot / 32] &= ~((uint32) 1 << (slot % 32));
		}
		return 0;
	}
	if (s->pid != b->pid || s->proc_start != b->proc_start)
	{
		if (s->pid != 0)
		{
			lg_slot_end_periods(s, now, now_us);
			lg_slot_leave(s);
		}
		else
		{
			lg_tracker.nclients++;
			lg_tracker.following[slot / 32] |= (uint32) 1 << (slot % 32);
		}
		lg_slot_start(s, b);
	}
	s->datid = b->datid;
	s->userid = b->userid;
	if (b->state != STATE_IDLE && b->state != STATE_UNDEFINED)
		lg_tracker.busy[slot / 32] |= (uint32) 1 << (slot % 32);

	/* Close the periods it left, under the name it had. */
	for (k = 0; k < LG_NUM_KINDS; k++)
	{
		LgPeriod   *p = &s->periods[k];

		if (p->active &&
			!(lg_kinds[k].applies(b->state, b->xact_start) &&
			  p->since == lg_period_since(k, b)))
			lg_slot_end_period(s, k, lg_period_end(p->since, b, now), now_us);
	}

	if (strcmp(s->appname, b->appname) != 0)
	{
		memcpy(s->appname, b->appname, NAMEDATALEN);
		s->citus_internal = (lg_citus_kind(s->appname) != LG_CITUS_NONE);
		lg_slot_leave(s);
		s->limit_generation = 0;
	}
	if (s->entry == NULL)
		lg_tracker.joined[lg_tracker.njoined++] = slot;

	/* Open those it entered. */
	for (k = 0; k < LG_NUM_KINDS; k++)
	{
		if (!lg_kinds[k].session ||
			!lg_kinds[k].applies(b->state, b->xact_start))
			continue;
		in_period = true;
		if (!s->periods[k].active)
			lg_slot_start_period(slot, s, k, lg_period_since(k, b), now,
								 now_us);
	}
	s->xact_start = b->xact_start;
	if (!in_period || s->signalled)
		return 0;

	if (s->limit_generation != lg_tracker.config_generation)
	{
		LeakguardWho who;
		char		usename[NAMEDATALEN];
		char		datname[NAMEDATALEN];
		bool		qualified = lg_rules_qualified();

		who.appname = s->appname;
		who.usename = qualified ? lg_role_name(s->userid, usename) : NULL;
		who.datname = qualified ? lg_database_name(s->datid, datname) : NULL;
		who.citus_internal = s->citus_internal;
		for (k = 0; k < LG_NUM_KINDS; k++)
			if (lg_kinds[k].session)
				lg_kind_limit_for(k, &who, &s->limits[k]);
		s->limit_generation = lg_tracker.config_generation;
	}
	for (k = 0; k < LG_NUM_KINDS; k++)
		if (lg_kinds[k].measure == LG_MEASURE_XID_AGE &&
			s->periods[k].active && !s->periods[k].reported &&
			s->limits[k].value > 0 &&
			lg_backend_holds_horizon(slot, s->pid))
			lg_tracker.xid_watch[slot / 32] |= (uint32) 1 << (slot % 32);
	(void) lg_slot_next_kind(s, &deadline_us);
	return deadline_us;
}

/*
 * Scan the status slots that may hold a client backend (scan.c), follow
 * those that changed since the last scan, and collect the sessions past
 * their deadline.  A slot that did not change keeps the deadline computed
 * when it last did, until a reload (which can change any limit) or until
 * it is a candidate (acting on it changes what the worker recorded): both
 * have it read again.  "now" is the system clock and "now_us" the monotonic
 * clock, read in that order at the start of the scan.  Returns the number
 * of candidates; sets *nearest_us to the earliest deadline still ahead on
 * the monotonic clock (0 if none).
 */
int
lg_scan_backends(TimestampTz now, int64 now_us, int64 *nearest_us)
{
	int			ncand = 0;
	int			nread;
	int			nchanged;
	int			slot;
	int			i;

	*nearest_us = 0;
	lg_tracker.nended = 0;
	lg_tracker.nleft = 0;
	lg_tracker.njoined = 0;

	if (lg_seen_generation != lg_tracker.config_generation)
	{
		lg_tracker.nclients = 0;
		memset(lg_tracker.following, 0, mul_size((MaxBackends + 31) / 32, sizeof(uint32)));
		for (slot = 0; slot < MaxBackends; slot++)
		{
			lg_tracker.counts[slot] = -1;
			lg_tracker.deadlines[slot] = 0;
			if (lg_tracker.slots[slot].pid != 0)
			{
				lg_tracker.nclients++;
				lg_tracker.following[slot / 32] |= (uint32) 1 << (slot % 32);
			}
		}
		lg_seen_generation = lg_tracker.config_generation;
		lg_tracker.recount = true;
	}

	nread = lg_client_slots(lg_tracker.following, lg_tracker.to_read);
	lg_tracker.nread = nread;
	nchanged = lg_status_changed(lg_tracker.to_read, nread, lg_tracker.counts,
								 lg_tracker.changed);
	for (i = 0; i < nchanged; i++)
	{
		LeakguardBackend b;
		bool		alive;

		slot = lg_tracker.changed[i];
		alive = lg_status_read(slot, &b);
		lg_tracker.counts[slot] = b.changecount;
		lg_tracker.deadlines[slot] = lg_follow_slot(slot, &b, alive, now, now_us);
	}

	for (i = 0; i < nread; i++)
	{
		int64		deadline_us;

		slot = lg_tracker.to_read[i];
		deadline_us = lg_tracker.deadlines[slot];
		if (deadline_us == 0)
			continue;
		if (deadline_us <= now_us)
			ncand = lg_add_candidate(ncand, slot, -1);
		else if (*nearest_us == 0 || deadline_us < *nearest_us)
			*nearest_us = deadline_us;
	}
	lg_tracker.any_busy = false;
	for (i = 0; i < (MaxBackends + 31) / 32 && !lg_tracker.any_busy; i++)
		lg_tracker.any_busy = (lg_tracker.busy[i] != 0);
	lg_tracker.prev_scan_us = now_us;
	return ncand;
}

/* Allocate the per-slot state, once, at the worker's start. */
void
lg_tracker_init(void)
{
	Size		words = mul_size((MaxBackends + 31) / 32, sizeof(uint32));

	lg_tracker.slots = MemoryContextAllocZero(TopMemoryContext,
											  mul_size(MaxBackends, sizeof(LgSlot)));
	lg_tracker.counts = MemoryContextAlloc(TopMemoryContext,
										   mul_size(MaxBackends, sizeof(int)));
	lg_tracker.deadlines = MemoryContextAlloc(TopMemoryContext,
											  mul_size(MaxBackends, sizeof(int64)));
	lg_tracker.ended = MemoryContextAlloc(TopMemoryContext,
										  mul_size(MaxBackends, sizeof(LgEndedEpisode)));
	lg_tracker.following = MemoryContextAllocZero(TopMemoryContext, words);
	lg_tracker.to_read = MemoryContextAlloc(TopMemoryContext,
											mul_size(MaxBackends, sizeof(int)));
	lg_tracker.changed = MemoryContextAlloc(TopMemoryContext,
											mul_size(MaxBackends, sizeof(int)));
	lg_tracker.left = MemoryContextAlloc(TopMemoryContext,
										 mul_size(MaxBackends, sizeof(LeakguardAppStats *)));
	lg_tracker.joined = MemoryContextAlloc(TopMemoryContext,
										   mul_size(MaxBackends, sizeof(int)));
	lg_tracker.candidates = MemoryContextAlloc(TopMemoryContext,
											   mul_size(MaxBackends, sizeof(int)));
	lg_tracker.candidate_kinds = MemoryContextAlloc(TopMemoryContext,
													mul_size(MaxBackends, sizeof(int)));
	lg_tracker.xid_watch = MemoryContextAllocZero(TopMemoryContext, words);
	lg_tracker.busy = MemoryContextAllocZero(TopMemoryContext, words);
}

/*
 * Forget every slot and period: leaving or entering "off", the episodes
 * were not watched in between.
 */
void
lg_tracker_forget(void)
{
	Size		words = mul_size((MaxBackends + 31) / 32, sizeof(uint32));

	memset(lg_tracker.slots, 0, mul_size(MaxBackends, sizeof(LgSlot)));
	memset(lg_tracker.xid_watch, 0, words);
	memset(lg_tracker.busy, 0, words);
	lg_tracker.prev_scan_us = 0;
}

/* New rules: what was only reported is looked at again. */
void
lg_tracker_reexamine(void)
{
	lg_tracker.config_generation++;
	for (int i = 0; i < MaxBackends; i++)
		for (int k = 0; k < LG_NUM_KINDS; k++)
			lg_tracker.slots[i].periods[k].reported = false;
}
