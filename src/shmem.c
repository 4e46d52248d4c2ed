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
 *								(see tracker.c, publish.c)
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
 *		hash "leakguard stats"	LeakguardAppEntry per application_name,
 *								at most max_applications entries
 *		hash "leakguard stats owners"	entries per login role that made
 *								them (at most max_applications)
 *		hash "leakguard quota counts"	connections per quota rule and
 *								names, one key per backend slot (see
 *								quotacount.c)
 *
 * The statistics table is bounded, and no client can fill it for others.
 * When it is full, a new application's entry takes the place of the least
 * recently seen entry (last looked up by lg_stats_entry()) that is not in
 * use: in use are an entry with connections now (as of the worker's
 * count) and one with a termination in the last
 * LG_STATS_KEEP_TERMINATED_US.  Every entry belongs to the login role of
 * the session that made it; a role may hold max_applications /
 * LG_STATS_SHARE_DIVISOR entries (its share) by taking others' places:
 * one that holds its share makes room from its own entries only, one that
 * holds less takes the place of an entry of a role holding its share or
 * more if there is one, else of any.  The entry that makes room is added
 * to the overflow row "(other applications)", so totals stay exact, and
 * counted in stats_evicted.  When no entry can make room, the new
 * application is counted in the overflow row.  This is pg_stat_statements'
 * deallocation, with a share per role: a session that renames itself a
 * thousand times in a loop recycles its own entries.  Entries make room 1%
 * of the table at a time (LG_STATS_EVICT_DIVISOR), the least recently seen
 * first, so that the pass that finds them is made once per that many new
 * applications, not at each.
 *
 * Locking: every function here that changes statistics or history expects
 * the caller to hold LeakguardShared->lock exclusive (the worker does, once
 * per scan); see shmem.h for the whole picture.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "histogram.h"
#include "kinds.h"
#include "leakguard.h"
#include "persist.h"
#include "quota.h"
#include "settings.h"
#include "shmem.h"
#include "sources.h"
#include "stats.h"

#include "access/twophase.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

LeakguardShared *lg_shared = NULL;

/* Set in the postmaster when max_worker_processes left no room (leakguard.c). */
bool		lg_worker_unregistered = false;
HTAB	   *lg_app_hash = NULL;

/*
 * When the table is full, entries make room max_applications /
 * LG_STATS_EVICT_DIVISOR at a time (at least one, at most
 * LG_STATS_EVICT_MAX), as pg_stat_statements deallocates several: finding
 * them is a pass over the table, made once for that many new applications.
 */
#define LG_STATS_EVICT_DIVISOR	100
#define LG_STATS_EVICT_MAX		1000

/* Entries of the statistics table per login role that made them. */
typedef struct LgOwnerCount
{
	Oid			owner;			/* hash key */
	int			count;
} LgOwnerCount;

static HTAB *lg_owner_hash = NULL;

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
	Size		size = lg_struct_size();

	size = add_size(size, hash_estimate_size(lg_max_applications,
											 sizeof(LeakguardAppEntry)));
	size = add_size(size, hash_estimate_size(lg_max_applications,
											 sizeof(LgOwnerCount)));
	return add_size(size, lg_quota_count_size());
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
 * crash of any backend (shared memory is then created anew).  Returns
 * whether it created it.
 */
bool
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
		lg_policy_init();

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
	info.entrysize = sizeof(LeakguardAppEntry);
	lg_app_hash = ShmemInitHash("leakguard stats",
								lg_max_applications, lg_max_applications,
								&info,
								HASH_ELEM | HASH_STRINGS | HASH_FIXED_SIZE);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(LgOwnerCount);
	lg_owner_hash = ShmemInitHash("leakguard stats owners",
								  lg_max_applications, lg_max_applications,
								  &info,
								  HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	lg_quota_count_init();

	LWLockRelease(AddinShmemInitLock);
	return !found;
}

/*
 * Refuse to go on unless leakguard was preloaded; and apply the policy in
 * force, which every SQL function judges by.
 */
void
lg_require_shmem(void)
{
	if (lg_shared == NULL || lg_app_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("leakguard must be loaded via shared_preload_libraries"),
				 errhint("Add leakguard to shared_preload_libraries in postgresql.conf and restart the server.")));
	lg_policy_refresh();
}

/* Entries the role holds.  Lock held. */
static int
lg_owner_count(Oid owner)
{
	LgOwnerCount *c = hash_search(lg_owner_hash, &owner, HASH_FIND, NULL);

	return c ? c->count : 0;
}

/*
 * One entry more (delta 1) or fewer (-1) for the role.  There is an owner
 * entry for each owner of an entry, so HASH_ENTER_NULL never fails here.
 * Lock held exclusive.
 */
static void
lg_owner_add(Oid owner, int delta)
{
	LgOwnerCount *c;
	bool		found;

	c = hash_search(lg_owner_hash, &owner, delta > 0 ? HASH_ENTER_NULL : HASH_FIND,
					&found);
	if (c == NULL)
		return;
	if (delta > 0 && !found)
		c->count = 0;
	c->count += delta;
	if (c->count <= 0)
		hash_search(lg_owner_hash, &owner, HASH_REMOVE, NULL);
}

/*
 * Whether an entry keeps its row when the table is full: it has connections
 * now, as of the worker's last count (the worker keeps pointers to the
 * entries its sessions are counted in), or a termination in the last
 * LG_STATS_KEEP_TERMINATED_US.  Lock held.
 */
static bool
lg_stats_in_use(const LeakguardAppEntry *e, TimestampTz now)
{
	if (lg_shared->count_scan != 0 &&
		e->stats.scan_no == lg_shared->count_scan &&
		e->stats.scan_connections > 0)
		return true;
	return e->stats.last_terminated_at != 0 &&
		e->stats.last_terminated_at > now - LG_STATS_KEEP_TERMINATED_US;
}

/* Which entries may make room for a new one (lg_stats_make_room()). */
typedef enum LgRoomFrom
{
	LG_ROOM_OWN,				/* the new entry's role's own */
	LG_ROOM_HEAVY,				/* of roles holding their share or more */
	LG_ROOM_ANY
} LgRoomFrom;

/*
 * Whether entry e, not in use, may make room under rule "from", its owner's
 * count read through a one-entry cache (entries of one role tend to come in
 * runs).  Lock held.
 */
static bool
lg_room_from(const LeakguardAppEntry *e, LgRoomFrom from, Oid owner, int share,
			 Oid *last_owner, bool *last_heavy, bool *last_known)
{
	if (from == LG_ROOM_OWN)
		return e->owner == owner;
	if (from == LG_ROOM_ANY)
		return true;
	if (!*last_known || e->owner != *last_owner)
	{
		*last_owner = e->owner;
		*last_heavy = lg_owner_count(e->owner) >= share;
		*last_known = true;
	}
	return *last_heavy;
}

/* Restore the max-heap (by last_seen) below position i. */
static void
lg_heap_down(LeakguardAppEntry **heap, int n, int i)
{
	for (;;)
	{
		int			top = i;
		int			l = 2 * i + 1;
		int			r = l + 1;
		LeakguardAppEntry *tmp;

		if (l < n && heap[l]->last_seen > heap[top]->last_seen)
			top = l;
		if (r < n && heap[r]->last_seen > heap[top]->last_seen)
			top = r;
		if (top == i)
			return;
		tmp = heap[i];
		heap[i] = heap[top];
		heap[top] = tmp;
		i = top;
	}
}

/*
 * Find the entries that make room for a new one of role owner (see the head
 * of this file): the least recently seen of those that may, up to "max" of
 * them at once, so that the passes over the table (one to choose whose
 * entries, one to find the oldest, with a heap of "max") are made once per
 * "max" new applications.  Returns how many were put in victims.  Lock held
 * exclusive.
 */
static int
lg_stats_victims(Oid owner, TimestampTz now, LeakguardAppEntry **victims,
				 int max)
{
	int			share = Max(1, lg_max_applications / LG_STATS_SHARE_DIVISOR);
	LgRoomFrom	from = LG_ROOM_ANY;
	Oid			last_owner = InvalidOid;
	bool		last_heavy = false;
	bool		last_known = false;
	int			n = 0;
	int			i;

	if (lg_owner_count(owner) >= share)
		from = LG_ROOM_OWN;
	else
	{
		for (i = 0; i < lg_shared->app_count; i++)
		{
			LeakguardAppEntry *e = (LeakguardAppEntry *) lg_shared->apps[i];

			if (!lg_stats_in_use(e, now) &&
				lg_room_from(e, LG_ROOM_HEAVY, owner, share,
							 &last_owner, &last_heavy, &last_known))
			{
				from = LG_ROOM_HEAVY;
				break;
			}
		}
	}

	for (i = 0; i < lg_shared->app_count; i++)
	{
		LeakguardAppEntry *e = (LeakguardAppEntry *) lg_shared->apps[i];

		if (lg_stats_in_use(e, now) ||
			!lg_room_from(e, from, owner, share,
						  &last_owner, &last_heavy, &last_known))
			continue;
		if (n < max)
		{
			int			c = n++;

			/* up the heap */
			victims[c] = e;
			while (c > 0 && victims[(c - 1) / 2]->last_seen < victims[c]->last_seen)
			{
				LeakguardAppEntry *tmp = victims[c];

				victims[c] = victims[(c - 1) / 2];
				victims[(c - 1) / 2] = tmp;
				c = (c - 1) / 2;
			}
		}
		else if (e->last_seen < victims[0]->last_seen)
		{
			victims[0] = e;
			lg_heap_down(victims, n, 0);
		}
	}
	return n;
}

/*
 * Remove an entry to make room: its counts go to the overflow row.  Lock
 * held exclusive.
 */
static void
lg_stats_evict(LeakguardAppEntry *victim)
{
	LeakguardAppStats *last;

	lg_stats_merge(&lg_shared->overflow, &victim->stats);
	lg_owner_add(victim->owner, -1);

	last = lg_shared->apps[--lg_shared->app_count];
	lg_shared->apps[victim->index] = last;
	((LeakguardAppEntry *) last)->index = victim->index;

	hash_search(lg_app_hash, victim->stats.name, HASH_REMOVE, NULL);
	lg_shared->stats_generation++;
	lg_shared->stats_evicted++;
}

/* The hash key of an application's statistics entry. */
static void
lg_stats_key(const char *appname, char *key)
{
	char		name[NAMEDATALEN];

	/*
	 * Status-array names are already cut to NAMEDATALEN - 1 bytes.  Citus
	 * internal connections share a row per kind and node (citus.c).
	 */
	memset(key, 0, NAMEDATALEN);
	strlcpy(key, lg_citus_stats_name(appname, name), NAMEDATALEN);
}

/*
 * Whether the application already has its own statistics entry: looking it
 * up with lg_stats_entry() would then create none and remove none.  Lock
 * held.
 */
bool
lg_stats_known(const char *appname)
{
	char		key[NAMEDATALEN];

	lg_stats_key(appname, key);
	return hash_search(lg_app_hash, key, HASH_FIND, NULL) != NULL;
}

/*
 * The statistics entry for an application: its own, created on first sight
 * (when the table is full, in the place of an entry that makes room), else
 * the overflow entry.  owner is the login role of the session it is looked
 * up for (InvalidOid: none).  Caller holds the lock exclusive.
 */
LeakguardAppStats *
lg_stats_entry(const char *appname, Oid owner, TimestampTz now)
{
	LeakguardAppEntry *e;
	char		key[NAMEDATALEN];
	LeakguardAppStats *entry;
	bool		found;

	lg_stats_key(appname, key);
	e = hash_search(lg_app_hash, key, HASH_FIND, NULL);
	if (e != NULL)
	{
		e->last_seen = Max(e->last_seen, now);
		return &e->stats;
	}
	if (hash_get_num_entries(lg_app_hash) >= lg_max_applications)
	{
		LeakguardAppEntry *victims[LG_STATS_EVICT_MAX];
		int			nvictims;

		nvictims = lg_stats_victims(owner, now, victims,
									Min(LG_STATS_EVICT_MAX,
										Max(1, lg_max_applications /
											LG_STATS_EVICT_DIVISOR)));
		for (int i = 0; i < nvictims; i++)
			lg_stats_evict(victims[i]);
		if (!lg_shared->stats_full)
		{
			lg_shared->stats_full = true;
			lg_stats_full_pending = true;
		}
	}
	if (hash_get_num_entries(lg_app_hash) >= lg_max_applications ||
		(e = hash_search(lg_app_hash, key, HASH_ENTER_NULL, &found)) == NULL)
	{
		if (lg_shared->overflow.first_seen == 0)
			lg_shared->overflow.first_seen = now;
		return &lg_shared->overflow;
	}
	entry = &e->stats;
	if (!found)
	{
		memset((char *) e + NAMEDATALEN, 0,
			   sizeof(LeakguardAppEntry) - NAMEDATALEN);
		entry->first_seen = now;
		e->last_seen = now;
		e->owner = owner;
		Assert(lg_shared->app_count < lg_max_applications);
		e->index = lg_shared->app_count;
		lg_shared->apps[lg_shared->app_count++] = entry;
		lg_owner_add(owner, 1);
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
			 errdetail("A new application takes the row of the least recently seen one with no connection now and no termination in the last hour, whose counts are added to the row \"%s\" of leakguard.stats; when there is none, it is counted in that row.",
					   LG_OVERFLOW_NAME),
			 errhint("Raise leakguard.max_applications and restart the server, or clear the statistics with leakguard.reset().")));
}

/*
 * The daily peaks of src into dst: per day of the newer window, the higher
 * of the two (a peak of either row alone is a lower bound of their sum's;
 * the overflow row is a sum of many applications anyway).
 */
static void
lg_peaks_merge(LeakguardAppStats *dst, const LeakguardAppStats *src)
{
	int32		merged[LG_PEAK_DAYS];
	int64		newest = Max(dst->peak_day, src->peak_day);
	int64		d;

	memset(merged, 0, sizeof(merged));
	for (d = Max(newest - LG_PEAK_DAYS + 1, 0); d <= newest; d++)
	{
		int32		peak = 0;

		if (d <= dst->peak_day && d > dst->peak_day - LG_PEAK_DAYS)
			peak = dst->daily_peaks[d % LG_PEAK_DAYS];
		if (d <= src->peak_day && d > src->peak_day - LG_PEAK_DAYS)
			peak = Max(peak, src->daily_peaks[d % LG_PEAK_DAYS]);
		merged[d % LG_PEAK_DAYS] = peak;
	}
	memcpy(dst->daily_peaks, merged, sizeof(merged));
	dst->peak_day = newest;
}

/*
 * Add the counters of src into dst (the overflow row): sums, the highest
 * peaks and maxima, the earliest first_seen.
 */
void
lg_stats_merge(LeakguardAppStats *dst, const LeakguardAppStats *src)
{
	int			i;

	dst->peak_connections = Max(dst->peak_connections, src->peak_connections);
	dst->episodes += src->episodes;
	for (i = 0; i < LG_NUM_KINDS; i++)
	{
		dst->kinds[i].acted += src->kinds[i].acted;
		dst->kinds[i].dry_run += src->kinds[i].dry_run;
		dst->kinds[i].last_at = Max(dst->kinds[i].last_at,
									src->kinds[i].last_at);
	}
	dst->total_idle_us += src->total_idle_us;
	dst->max_idle_us = Max(dst->max_idle_us, src->max_idle_us);
	for (i = 0; i < LG_NUM_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->last_terminated_at = Max(dst->last_terminated_at, src->last_terminated_at);
	if (dst->first_seen == 0 || (src->first_seen != 0 && src->first_seen < dst->first_seen))
		dst->first_seen = src->first_seen;
	for (i = 0; i < LG_NUM_OBSERVED; i++)
		lg_hist_merge(&dst->observed[i], &src->observed[i]);
	lg_peaks_merge(dst, src);
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

	if (event->kind != LG_KIND_CONNECTIONS)
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
	event->kind = LG_KIND_CONNECTIONS;
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

/*
 * Forget all statistics and history (reset() forgets the leak sources in
 * the same acquisition).  Lock held exclusive.
 */
void
lg_stats_reset(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	LeakguardAppStats *entry;

	LgOwnerCount *owner;

	hash_seq_init(&seq, lg_app_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(lg_app_hash, entry->name, HASH_REMOVE, NULL);
	hash_seq_init(&seq, lg_owner_hash);
	while ((owner = hash_seq_search(&seq)) != NULL)
		hash_search(lg_owner_hash, &owner->owner, HASH_REMOVE, NULL);
	lg_shared->app_count = 0;
	lg_shared->stats_full = false;
	lg_shared->stats_generation++;

	memset((char *) &lg_shared->overflow + NAMEDATALEN, 0,
		   sizeof(LeakguardAppStats) - NAMEDATALEN);
	lg_shared->history_count = 0;
	lg_shared->refusal_count = 0;
	lg_shared->stats_reset = now;
	lg_shared->reset_generation++;
}
