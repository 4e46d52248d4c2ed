/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		leakguard's shared memory: worker status, statistics and history.
 *
 * Everything is sized once, at server start, from MaxBackends,
 * leakguard.max_applications and leakguard.history_size, and never grows:
 *
 *		LeakguardShared			the worker's status, counters, check() state,
 *								the policy in force (see settings.c)
 *		LeakguardVictim[]		one per backend slot (see terminate.c)
 *		LeakguardMark[]			one per backend slot and kind of limit
 *								(see worker.c)
 *		LeakguardQuotaSlot[]	one per backend slot (see quota.c)
 *		LeakguardEpisodeHeadPadded[]	one per backend slot, then
 *		LeakguardEpisodeSlot[]	one per backend slot (see episodes.c)
 *		pg_atomic_uint32[]		a bit per backend slot: records not yet
 *								folded (see episodes.c)
 *		LeakguardAppStats *[]	the entries of the hash below, in the order
 *								they were made (max_applications)
 *		LeakguardEvent[]		the history ring behind leakguard.terminations
 *		LeakguardRefusal[]		its second ring, for refused connections
 *		LeakguardPrepared[]		the prepared transactions the helper of
 *								prepared.c last read (max_prepared_transactions)
 *		hash "leakguard stats"	LeakguardAppStats per application_name,
 *								at most max_applications entries; further
 *								applications share LeakguardShared->overflow
 *		hash "leakguard quota counts"	connections per quota rule and
 *								names, one key per backend slot (see
 *								quotacount.c)
 *
 * Locking: every function here that changes statistics or history expects
 * the caller to hold LeakguardShared->lock exclusive (the worker does, once
 * per scan); see leakguard.h for the whole picture.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "access/twophase.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

LeakguardShared *lg_shared = NULL;
HTAB	   *lg_app_hash = NULL;

/*
 * This process found the statistics table full first (it set stats_full):
 * it logs that once it has released the lock (lg_stats_full_report()).
 */
static bool lg_stats_full_pending = false;

/* LeakguardShared and the arrays that follow it. */
static Size
lg_struct_size(void)
{
	Size		size = MAXALIGN(sizeof(LeakguardShared));

	size = add_size(size, MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardVictim))));
	size = add_size(size, MAXALIGN(mul_size(mul_size(MaxBackends, LG_NUM_KINDS), sizeof(LeakguardMark))));
	size = add_size(size, MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardQuotaSlot))));
	size = add_size(size, PG_CACHE_LINE_SIZE);	/* to align the heads */
	size = add_size(size, MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardEpisodeHeadPadded))));
	size = add_size(size, MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardEpisodeSlot))));
	size = add_size(size, MAXALIGN(mul_size((MaxBackends + 31) / 32, sizeof(pg_atomic_uint32))));
	size = add_size(size, MAXALIGN(mul_size(lg_max_applications, sizeof(LeakguardAppStats *))));
	size = add_size(size, MAXALIGN(mul_size(lg_history_size, sizeof(LeakguardEvent))));
	size = add_size(size, MAXALIGN(mul_size(lg_history_size, sizeof(LeakguardRefusal))));
	return add_size(size, mul_size(max_prepared_xacts, sizeof(LeakguardPrepared)));
}

static Size
lg_shmem_size(void)
{
	return add_size(add_size(lg_struct_size(),
							 hash_estimate_size(lg_max_applications,
												sizeof(LeakguardAppStats))),
					lg_quota_count_size());
}

/* Called from shmem_request_hook. */
void
lg_shmem_request(void)
{
	RequestAddinShmemSpace(lg_shmem_size());
	RequestNamedLWLockTranche(LG_NAME, 2);
}

/*
 * Called from shmem_startup_hook: in the postmaster at start and after a
 * crash of any backend (shared memory is then created anew).
 */
void
lg_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;
	char	   *p;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	lg_shared = ShmemInitStruct(LG_NAME, lg_struct_size(), &found);
	if (!found)
	{
		memset(lg_shared, 0, sizeof(LeakguardShared));
		lg_shared->format = LG_FORMAT_VERSION;
		lg_shared->lock = &(GetNamedLWLockTranche(LG_NAME))[0].lock;
		lg_shared->quota_lock = &(GetNamedLWLockTranche(LG_NAME))[1].lock;
		pg_atomic_init_u32(&lg_shared->worker_waiting, 0);
		pg_atomic_init_u64(&lg_shared->check_requested, 0);
		pg_atomic_init_u32(&lg_shared->block_watch, 0);
		ConditionVariableInit(&lg_shared->check_cv);
		strlcpy(lg_shared->overflow.name, LG_OVERFLOW_NAME, NAMEDATALEN);
		lg_shared->worker_mode = LG_MODE_OFF;
		lg_shared->worker_registered = !lg_worker_unregistered;

		/*
		 * Settings rejected at start: the worker only reports until valid
		 * ones are loaded.  After a crash restart, only if the files were
		 * not loaded since the start; either way the worker judges the
		 * files as they are when it starts (settings.c).
		 */
		strlcpy(lg_shared->start_errors, lg_start_errors,
				sizeof(lg_shared->start_errors));
		lg_shared->start_load_time = lg_start_load_time;
		if (PgReloadTime == lg_start_load_time)
		{
			strlcpy(lg_shared->config_error, lg_start_errors,
					sizeof(lg_shared->config_error));
			lg_shared->config_unsafe = (lg_start_errors[0] != '\0');
		}

		p = (char *) lg_shared + MAXALIGN(sizeof(LeakguardShared));
		lg_shared->victims = (LeakguardVictim *) p;
		for (i = 0; i < MaxBackends; i++)
		{
			SpinLockInit(&lg_shared->victims[i].mutex);
			lg_shared->victims[i].pid = 0;
		}
		p += MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardVictim)));
		lg_shared->marks = (LeakguardMark *) p;
		memset(lg_shared->marks, 0, mul_size(mul_size(MaxBackends, LG_NUM_KINDS), sizeof(LeakguardMark)));
		p += MAXALIGN(mul_size(mul_size(MaxBackends, LG_NUM_KINDS), sizeof(LeakguardMark)));
		lg_shared->quota = (LeakguardQuotaSlot *) p;
		memset(lg_shared->quota, 0, mul_size(MaxBackends, sizeof(LeakguardQuotaSlot)));
		p += MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardQuotaSlot)));
		p = (char *) TYPEALIGN(PG_CACHE_LINE_SIZE, p);
		lg_shared->episode_heads = (LeakguardEpisodeHeadPadded *) p;
		memset(p, 0, mul_size(MaxBackends, sizeof(LeakguardEpisodeHeadPadded)));
		for (i = 0; i < MaxBackends; i++)
			pg_atomic_init_u32(&lg_shared->episode_heads[i].head.changes, 0);
		p += MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardEpisodeHeadPadded)));
		lg_shared->episodes = (LeakguardEpisodeSlot *) p;
		memset(lg_shared->episodes, 0, mul_size(MaxBackends, sizeof(LeakguardEpisodeSlot)));
		p += MAXALIGN(mul_size(MaxBackends, sizeof(LeakguardEpisodeSlot)));
		lg_shared->episode_pending = (pg_atomic_uint32 *) p;
		for (i = 0; i < (MaxBackends + 31) / 32; i++)
			pg_atomic_init_u32(&lg_shared->episode_pending[i], 0);
		p += MAXALIGN(mul_size((MaxBackends + 31) / 32, sizeof(pg_atomic_uint32)));
		lg_shared->apps = (LeakguardAppStats **) p;
		p += MAXALIGN(mul_size(lg_max_applications, sizeof(LeakguardAppStats *)));
		lg_shared->history = (LeakguardEvent *) p;
		p += MAXALIGN(mul_size(lg_history_size, sizeof(LeakguardEvent)));
		lg_shared->refusals = (LeakguardRefusal *) p;
		p += MAXALIGN(mul_size(lg_history_size, sizeof(LeakguardRefusal)));
		lg_shared->prepared = (LeakguardPrepared *) p;
	}

	memset(&info, 0, sizeof(info));
	info.keysize = NAMEDATALEN;
	info.entrysize = sizeof(LeakguardAppStats);
	lg_app_hash = ShmemInitHash("leakguard stats",
								lg_max_applications, lg_max_applications,
								&info,
								HASH_ELEM | HASH_STRINGS | HASH_FIXED_SIZE);
	lg_quota_count_init();

	LWLockRelease(AddinShmemInitLock);

	/*
	 * Only the postmaster loads and saves the statistics file: at start, and
	 * when it exits after a clean shutdown.
	 */
	if (!IsUnderPostmaster && !found)
	{
		lg_stats_load();
		lg_stats_full_report();
		on_shmem_exit(lg_stats_save, (Datum) 0);
	}
}

void
lg_require_shmem(void)
{
	if (lg_shared == NULL || lg_app_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("leakguard must be loaded via shared_preload_libraries"),
				 errhint("Add leakguard to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * The statistics entry for an application: its own, created on first sight
 * while there is room, else the overflow entry.  Caller holds the lock
 * exclusive.
 */
LeakguardAppStats *
lg_stats_entry(const char *appname, TimestampTz now)
{
	char		key[NAMEDATALEN];
	char		name[NAMEDATALEN];
	LeakguardAppStats *entry;
	bool		found;

	/*
	 * Status-array names are already cut to NAMEDATALEN - 1 bytes.  Citus
	 * internal connections share a row per kind and node (citus.c).
	 */
	memset(key, 0, sizeof(key));
	strlcpy(key, lg_citus_stats_name(appname, name), sizeof(key));

	entry = hash_search(lg_app_hash, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;
	if (hash_get_num_entries(lg_app_hash) >= lg_max_applications ||
		(entry = hash_search(lg_app_hash, key, HASH_ENTER_NULL, &found)) == NULL)
	{
		if (lg_shared->overflow.first_seen == 0)
			lg_shared->overflow.first_seen = now;
		if (!lg_shared->stats_full)
		{
			lg_shared->stats_full = true;
			lg_stats_full_pending = true;
		}
		return &lg_shared->overflow;
	}
	if (!found)
	{
		memset((char *) entry + NAMEDATALEN, 0,
			   sizeof(LeakguardAppStats) - NAMEDATALEN);
		entry->first_seen = now;
		Assert(lg_shared->app_count < lg_max_applications);
		lg_shared->apps[lg_shared->app_count++] = entry;
	}
	return entry;
}

/*
 * Log that the statistics table is full, if this process found it so
 * first; called after each release of the lock by a process that may have
 * called lg_stats_entry(), since nothing is logged under the lock.  So it
 * is logged once per start or reset(), by whichever process (the worker,
 * a backend recording episodes or a refusal, the postmaster loading the
 * statistics file) counted the first application in the overflow row.
 */
void
lg_stats_full_report(void)
{
	if (!lg_stats_full_pending)
		return;
	lg_stats_full_pending = false;
	/* LOG, not WARNING: a client recording an episode must not see it */
	ereport(LOG,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("leakguard statistics are full: %d applications have their own row",
					lg_max_applications),
			 errdetail("Applications seen from now on are counted together in the row \"%s\" of leakguard.stats.",
					   LG_OVERFLOW_NAME),
			 errhint("Raise leakguard.max_applications and restart the server, or clear the statistics with leakguard.reset().")));
}

/* Count one finished idle-in-transaction episode.  Lock held exclusive. */
void
lg_stats_add_episode(LeakguardAppStats *entry, int64 idle_us)
{
	int			bucket;

	if (idle_us < 0)
		idle_us = 0;
	if (idle_us < 10 * USECS_PER_SEC)
		bucket = 0;
	else if (idle_us < 60 * USECS_PER_SEC)
		bucket = 1;
	else if (idle_us < 600 * USECS_PER_SEC)
		bucket = 2;
	else if (idle_us < 3600 * USECS_PER_SEC)
		bucket = 3;
	else
		bucket = 4;

	entry->episodes++;
	entry->buckets[bucket]++;
	entry->total_idle_us += idle_us;
	if (idle_us > entry->max_idle_us)
		entry->max_idle_us = idle_us;
}

/* The day (UTC) of a timestamp, for the daily peaks. */
static int64
lg_day(TimestampTz t)
{
	return t / USECS_PER_DAY;
}

/*
 * One more connection of the application seen by the current scan: raise
 * the all-time peak and today's.  Days with no scan are days of no
 * connections: their slots are zeroed when a later day is entered.  Lock
 * held exclusive.
 */
void
lg_stats_count_connections(LeakguardAppStats *entry, TimestampTz now)
{
	int64		day = lg_day(now);
	int32	   *today;

	if (day > entry->peak_day)
	{
		int64		d;

		for (d = Max(entry->peak_day + 1, day - LG_PEAK_DAYS + 1); d <= day; d++)
			entry->daily_peaks[d % LG_PEAK_DAYS] = 0;
		entry->peak_day = day;
	}
	entry->scan_connections++;
	entry->peak_connections = Max(entry->peak_connections,
								  entry->scan_connections);
	today = &entry->daily_peaks[entry->peak_day % LG_PEAK_DAYS];
	*today = Max(*today, entry->scan_connections);
}

/*
 * The highest daily peak of the last LG_PEAK_DAYS days (today included),
 * from a copy of an entry: no lock.
 */
int32
lg_stats_window_peak(const LeakguardAppStats *entry, TimestampTz now)
{
	int64		day = lg_day(now);
	int32		peak = 0;
	int64		d;

	for (d = Max(day - LG_PEAK_DAYS + 1, 0); d <= Min(day, entry->peak_day); d++)
		if (d > entry->peak_day - LG_PEAK_DAYS)
			peak = Max(peak, entry->daily_peaks[d % LG_PEAK_DAYS]);
	return peak;
}

/*
 * Append to the history, overwriting the oldest event of its ring.  A
 * refused connection goes to the ring of refusals: anyone who can log in
 * can be refused as often as it likes, and must not be able to push the
 * terminations out of the history.  Lock held exclusive.
 */
void
lg_history_add(const LeakguardEvent *event)
{
	uint64		slot;
	LeakguardRefusal *r;

	if (event->kind != LG_KIND_QUOTA)
	{
		slot = lg_shared->history_count % (uint64) lg_history_size;
		memcpy(&lg_shared->history[slot], event, sizeof(LeakguardEvent));
		lg_shared->history_count++;
		return;
	}

	slot = lg_shared->refusal_count % (uint64) lg_history_size;
	r = &lg_shared->refusals[slot];
	r->at = event->at;
	r->backend_start = event->backend_start;
	r->pid = event->pid;
	r->action = event->action;
	r->datid = event->datid;
	r->userid = event->userid;
	memcpy(&r->client_addr, &event->client_addr, sizeof(SockAddr));
	memcpy(r->appname, event->appname, NAMEDATALEN);
	memcpy(r->rule, event->rule, LG_RULE_TEXT_LEN);
	lg_shared->refusal_count++;
}

/* The history event a refusal was made from (no lock: works on copies). */
void
lg_refusal_event(const LeakguardRefusal *refusal, LeakguardEvent *event)
{
	memset(event, 0, sizeof(LeakguardEvent));
	event->at = refusal->at;
	event->pid = refusal->pid;
	event->action = refusal->action;
	event->kind = LG_KIND_QUOTA;
	event->datid = refusal->datid;
	event->userid = refusal->userid;
	event->backend_start = refusal->backend_start;
	memcpy(&event->client_addr, &refusal->client_addr, sizeof(SockAddr));
	memcpy(event->appname, refusal->appname, NAMEDATALEN);
	memcpy(event->rule, refusal->rule, LG_RULE_TEXT_LEN);
}

/*
 * The worker takes the lock exclusive through here: readers arriving while
 * it waits let it in first (lg_lock_reader).
 */
void
lg_lock_worker(void)
{
	pg_atomic_write_u32(&lg_shared->worker_waiting, 1);
	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	pg_atomic_write_u32(&lg_shared->worker_waiting, 0);
}

/*
 * Readers take the lock shared through here, after a worker that waits for
 * it has had its turn.  The wait is bounded by the clock, at
 * LG_READER_YIELD_US: the worker holds the lock for microseconds, and a
 * reader must never hang on a flag.  (Counting sleeps would not bound it:
 * the kernel's timer slack makes each short sleep several times longer.)
 */
void
lg_lock_reader(void)
{
	if (pg_atomic_read_u32(&lg_shared->worker_waiting) != 0)
	{
		instr_time	start;
		instr_time	elapsed;

		INSTR_TIME_SET_CURRENT(start);
		do
		{
			CHECK_FOR_INTERRUPTS();
			pg_usleep(20L);
			INSTR_TIME_SET_CURRENT(elapsed);
			INSTR_TIME_SUBTRACT(elapsed, start);
		} while (pg_atomic_read_u32(&lg_shared->worker_waiting) != 0 &&
				 INSTR_TIME_GET_MICROSEC(elapsed) < LG_READER_YIELD_US);
	}
	LWLockAcquire(lg_shared->lock, LW_SHARED);
}

/* Forget all statistics and history.  Lock held exclusive. */
void
lg_stats_reset(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	LeakguardAppStats *entry;

	hash_seq_init(&seq, lg_app_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(lg_app_hash, entry->name, HASH_REMOVE, NULL);
	lg_shared->app_count = 0;
	lg_shared->stats_full = false;

	memset((char *) &lg_shared->overflow + NAMEDATALEN, 0,
		   sizeof(LeakguardAppStats) - NAMEDATALEN);
	lg_shared->history_count = 0;
	lg_shared->refusal_count = 0;
	lg_shared->stats_reset = now;
	lg_shared->reset_generation++;
}
