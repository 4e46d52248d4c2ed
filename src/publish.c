/*-------------------------------------------------------------------------
 *
 * publish.c
 *		What a scan found, made public: statistics, history, marks, leak
 *		sources, connection counts, and the log lines.
 *
 * After the signals (terminate.c), the worker publishes once per scan, in
 * one acquisition of LeakguardShared->lock: the connection counts of the
 * statistics entries, the episodes that ended (with those the sessions
 * recorded themselves, episodes.c), and the batch of events with its marks
 * and leak sources (sources.c).  The log lines follow, after the lock is
 * released.
 *
 * Shared state: LeakguardShared (statistics, history, counters) under
 * LeakguardShared->lock, held exclusive by the caller where a function
 * says so; LeakguardMark slots, the worker's own (no lock); see
 * shmem.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "hooks.h"
#include "kinds.h"
#include "publish.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "sources.h"
#include "stats.h"
#include "terminate.h"
#include "tracker.h"

#include "commands/dbcommands.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

/*
 * Connection counts are kept up to date at each publish from what changed
 * during the scan: the entries that slots left, and the slots to count in
 * an entry (lg_tracker).  A full count starts them again from the slots
 * (the first scan, after a reload or a reset()); an entry's
 * scan_connections belongs to the full count stamped in its scan_no, and
 * starts from zero otherwise.  The stamp of the latest full count is
 * published (count_scan): an entry with connections counted under it is
 * never removed to make room for another (shmem.c), which keeps the
 * pointers to entries held in the slots valid.
 */
static uint64 lg_count_scan = 0;	/* scan of the full count; 0: count again */
static uint64 lg_count_reset_generation;	/* reset_generation it was under */

/* Connection warning state: logged once per crossing. */
static bool lg_connection_warned = false;

/*
 * Publish the episodes that ended during the scan (the 1.1 columns), and
 * the histograms' episodes the sessions recorded themselves (episodes.c).
 * Lock held exclusive.
 */
void
lg_publish_ended(TimestampTz now)
{
	int			i;

	for (i = 0; i < lg_tracker.nended; i++)
		lg_stats_add_episode(lg_stats_entry(lg_tracker.ended[i].appname,
											lg_tracker.ended[i].userid, now),
							 lg_tracker.ended[i].idle_us);
	lg_episodes_fold_all(now);
}

/* Count a connection in its statistics entry.  Lock held exclusive. */
static void
lg_count_connection(LgSlot *s, TimestampTz now)
{
	LeakguardAppStats *entry = lg_stats_entry(s->appname, s->userid, now);

	s->entry = entry;
	if (entry->scan_no != lg_count_scan)
	{
		entry->scan_no = lg_count_scan;
		entry->scan_connections = 0;
	}
	lg_stats_count_connections(entry, now);
}

/*
 * Bring the connection counts of the statistics entries to what this scan
 * saw, and their peaks with them.  Departures first, so that one session
 * leaving and another arriving never make a peak no scan saw.  Lock held
 * exclusive.
 */
void
lg_publish_connections(uint64 scan_no, TimestampTz now)
{
	static int64 count_day = -1;
	int64		day = now / USECS_PER_DAY;
	int			i;

	if (lg_tracker.recount)
	{
		lg_tracker.recount = false;
		lg_count_scan = 0;
	}

	/*
	 * A full count also on the first scan of a day (UTC), so that each day's
	 * peak (suggest.c) counts the connections that stayed over from the day
	 * before.
	 */
	if (lg_count_scan == 0 || day != count_day ||
		lg_count_reset_generation != lg_shared->reset_generation)
	{
		lg_count_scan = scan_no;
		lg_shared->count_scan = scan_no;
		count_day = day;
		lg_count_reset_generation = lg_shared->reset_generation;

		/*
		 * The sessions of applications that have an entry first: until an
		 * entry is counted under the new stamp, nothing keeps it from being
		 * removed to make room (lg_stats_in_use()), so a new application
		 * counted before them could take the row of one with sessions.
		 * Then the others, which may create entries.
		 */
		for (i = 0; i < MaxBackends; i++)
		{
			LgSlot	   *s = &lg_tracker.slots[i];

			if (s->pid == 0)
				continue;
			if (lg_stats_known(s->appname))
				lg_count_connection(s, now);
			else
				s->entry = NULL;
		}
		for (i = 0; i < MaxBackends; i++)
			if (lg_tracker.slots[i].pid != 0 && lg_tracker.slots[i].entry == NULL)
				lg_count_connection(&lg_tracker.slots[i], now);
		return;
	}
	for (i = 0; i < lg_tracker.nleft; i++)
	{
		Assert(lg_tracker.left[i]->scan_no == lg_count_scan);
		lg_tracker.left[i]->scan_connections--;
	}
	for (i = 0; i < lg_tracker.njoined; i++)
		lg_count_connection(&lg_tracker.slots[lg_tracker.joined[i]], now);
}

void
lg_log_event(const LeakguardEvent *ev)
{
	const char *user = GetUserNameFromId(ev->userid, true);
	const char *db = get_database_name(ev->datid);
	char	   *limit;
	const char *source = lg_kind_source(ev->kind, ev->rule);
	int			level = LOG;
	const char *what;

	bool		cancel = (lg_kinds[ev->kind].action == LG_ACT_CANCEL);

	switch ((LeakguardAction) ev->action)
	{
		case LG_ACTION_TERMINATED:
			what = "leakguard terminated";
			break;
		case LG_ACTION_CANCELLED:
			what = "leakguard cancelled the statement of";
			break;
		case LG_ACTION_DRY_RUN:
			what = cancel ? "leakguard (dry run) would have cancelled the statement of" :
				"leakguard (dry run) would have terminated";
			break;
		case LG_ACTION_SUPERUSER:
			what = cancel ? "leakguard did not cancel the statement of superuser" :
				"leakguard did not terminate superuser";
			break;
		case LG_ACTION_BECAME_ACTIVE:
			what = "leakguard skipped (it became active)";
			level = DEBUG1;
			break;
		default:
			what = "leakguard skipped (it is gone)";
			level = DEBUG1;
			break;
	}

	if (lg_kinds[ev->kind].measure == LG_MEASURE_XID_AGE)
		limit = psprintf(INT64_FORMAT " transactions (its snapshot or transaction ID is " INT64_FORMAT " old)",
						 ev->limit, ev->xmin_age);
	else if (lg_kinds[ev->kind].measure == LG_MEASURE_BLOCKED)
	{
		StringInfoData pids;

		initStringInfo(&pids);
		for (int i = 0; i < Min(ev->nblocked, LG_BLOCKED_PIDS); i++)
			appendStringInfo(&pids, "%s%d", i > 0 ? ", " : "", ev->blocked_pids[i]);
		if (ev->nblocked > LG_BLOCKED_PIDS)
			appendStringInfoString(&pids, ", ...");
		limit = psprintf("%s of blocking (it kept %d session(s) waiting for its locks for %.3f s: %s)",
						 lg_format_duration_ms(ev->limit), ev->nblocked,
						 (double) ev->blocked_us / USECS_PER_SEC, pids.data);
	}
	else
		limit = lg_format_duration_ms(ev->limit);

	ereport(level,
			(errmsg("%s process %d of application \"%s\" (user \"%s\", database \"%s\") %s for %.3f s; limit %s from %s",
					what, ev->pid, ev->appname,
					user ? user : "?", db ? db : "?", lg_kinds[ev->kind].during,
					(double) ev->lasted_us / USECS_PER_SEC, limit, source),
			 ev->action == LG_ACTION_SUPERUSER ?
			 errdetail("Later periods of this session past this limit are not reported.") : 0,
			 ev->action == LG_ACTION_SUPERUSER ?
			 errhint("Set leakguard.terminate_superusers = on to act on superuser sessions too.") : 0));
}

/*
 * Record one batch in statistics and history, and update the slots; the
 * caller holds LeakguardShared->lock exclusive.  A reload re-examines
 * reported sessions; when that ends as before (still a superuser, still a
 * dry run) nothing new is recorded or logged.  A superuser session that is
 * only reported is recorded and logged once per kind of limit, not at
 * every period past it (a session idle for a minute between statements
 * with a limit of a second would fill the history); its later periods are
 * handled as repeats.  Returns the number of sessions acted on (terminated,
 * cancelled, or dry_run), for check().
 */
int
lg_record_batch(LeakguardTermination *items, int n)
{
	int			acted = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		LeakguardEvent *ev = &items[i].event;
		LgSlot	   *s = &lg_tracker.slots[items[i].slot];
		LgPeriod   *p = &s->periods[ev->kind];
		LeakguardMark *m = LG_MARK(items[i].slot, ev->kind);
		LeakguardAppStats *entry;

		items[i].repeat = (p->last_action == ev->action ||
						   (ev->action == LG_ACTION_SUPERUSER &&
							(s->superuser_kinds & (1U << ev->kind)) != 0));
		p->last_action = ev->action;
		m->pid = ev->pid;
		m->backend_start = ev->backend_start;
		m->since = lg_kind_period_since(ev->kind, ev->state_change,
										ev->xact_start, ev->query_start);
		m->action = ev->action;
		if (items[i].repeat)
		{
			p->reported = true;
			continue;
		}

		entry = lg_stats_entry(ev->appname, ev->userid, ev->at);
		lg_history_add(ev);
		switch ((LeakguardAction) ev->action)
		{
			case LG_ACTION_TERMINATED:
				entry->kinds[ev->kind].acted++;
				entry->kinds[ev->kind].last_at = ev->at;
				if (ev->kind == LG_KIND_IDLE_IN_XACT)
				{
					lg_stats_add_episode(entry, ev->lasted_us);
					s->counted = true;
				}
				entry->last_terminated_at = ev->at;
				lg_sources_record(ev, items[i].query_id);
				lg_shared->terminated++;
				s->signalled = true;
				acted++;
				break;
			case LG_ACTION_CANCELLED:
				/* the statement is cancelled; the session goes on */
				entry->kinds[ev->kind].acted++;
				entry->kinds[ev->kind].last_at = ev->at;
				lg_sources_record(ev, items[i].query_id);
				p->reported = true;
				acted++;
				break;
			case LG_ACTION_DRY_RUN:
				entry->kinds[ev->kind].dry_run++;
				entry->kinds[ev->kind].last_at = ev->at;
				lg_sources_record(ev, items[i].query_id);
				lg_shared->dry_run++;
				p->reported = true;
				acted++;
				break;
			case LG_ACTION_SUPERUSER:
				p->reported = true;
				s->superuser_kinds |= 1U << ev->kind;
				break;
			case LG_ACTION_BECAME_ACTIVE:
			case LG_ACTION_GONE:
				lg_shared->skipped++;
				p->reported = true;
				break;
			case LG_ACTION_REFUSED:
				/* quotas are enforced by the backends themselves */
				break;
		}
	}
	return acted;
}

/*
 * Warn once when the client connections cross
 * leakguard.connection_warning percent of max_connections, again only
 * after they fell below it.
 */
void
lg_check_connections(int nclients)
{
	bool		over = lg_connection_warning > 0 &&
		(int64) nclients * 100 >= (int64) lg_connection_warning * MaxConnections;

	if (over && !lg_connection_warned)
		ereport(WARNING,
				(errmsg("leakguard: %d of %d client connections are in use (%d%%)",
						nclients, MaxConnections,
						(int) ((int64) nclients * 100 / Max(MaxConnections, 1))),
				 errdetail("leakguard.connection_warning is %d%%; this warning is repeated only after the count falls below it again.",
						   lg_connection_warning),
				 errhint("See leakguard.connections for the connections by database, application and state.")));
	lg_connection_warned = over;
}
