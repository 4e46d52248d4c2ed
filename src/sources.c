/*-------------------------------------------------------------------------
 *
 * sources.c
 *		Leak sources: which statement each ended (or reported) session ran
 *		last, counted per application, role, database, kind and statement.
 *
 * The worker records a source for every session it terminates, or reports
 * in dry_run, for any kind of limit on sessions (quotas are about the
 * login, not a statement: none).  terminate.c reads the statement's query
 * id with its text and client address when it re-reads the session's
 * status slot before the signal; lg_record_batch() (publish.c) calls
 * lg_sources_record() under the lock it already holds to record the
 * termination.  So recording costs the scan's hot path nothing, and only
 * a session that is ended costs a hash look-up and a copy of its text.
 *
 * The table is fixed at start: leakguard.max_sources entries (0: no
 * sources are recorded), a shared hash from key to entry, and a small
 * shared hash of the roles that hold entries, each with its count and its
 * entries in the order they were last seen.  When it is full, a new source
 * takes the place of (lg_source_victim()):
 *
 *	- the least recently seen source of all, if it has not leaked for
 *	  LG_SOURCE_RECENT_US;
 *	- otherwise, when every source leaked that recently, the least
 *	  recently seen source of the role that holds the most (the new
 *	  source's own role on a tie).
 *
 * So a role that leaks from thousands of distinct statements (generated
 * SQL, a test suite) recycles its own entries once it holds more than any
 * other role, and cannot push out the recent sources of another: each
 * role keeps at least an equal share of the table.  Roles, not
 * applications, because any client chooses its application_name.  Every
 * source pushed out is counted (status().sources_evicted).
 *
 * The sources are kept with the statistics: written at a clean shutdown
 * when leakguard.save_stats is on, to pg_stat/leakguard_sources.stat (a
 * .tmp file first, then durable_rename()), least recently seen first, read
 * back at start and deleted at once, so that after a crash they start
 * empty, as the statistics do; reset() clears them.  A file that does not
 * check out (format, size, checksum, or content: a string without its NUL,
 * a kind that is not one on sessions, a negative counter) is ignored with
 * a LOG line.  When max_sources shrank, the most recently seen are kept.
 *
 * Shared state: see sources.h; all under LeakguardShared->lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fingerprint.h"
#include "kinds.h"
#include "leakguard.h"
#include "persist.h"
#include "settings.h"
#include "shmem.h"
#include "sources.h"
#include "stats.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#define LG_SOURCES_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/leakguard_sources.stat"
#define LG_SOURCES_MAGIC	0x4C475331	/* "LGS1" */
#define LG_SOURCES_FORMAT	1

/* The table's header, followed by max_sources entries. */
typedef struct LeakguardSources
{
	uint64		evicted;		/* sources pushed out since the table was
								 * last empty */
	dlist_head	lru;			/* entries in use, least recently seen first */
	dlist_head	free;			/* entries not in use */
	LeakguardSource entries[FLEXIBLE_ARRAY_MEMBER];
} LeakguardSources;

/* An entry of the hash from key to entry. */
typedef struct LgSourceIndex
{
	LeakguardSourceKey key;
	LeakguardSource *source;
} LgSourceIndex;

/* An entry of the hash of roles that hold sources. */
typedef struct LgSourceRole
{
	Oid			userid;			/* hash key */
	int			count;			/* entries it holds, > 0 */
	dlist_head	lru;			/* those entries, least recently seen first */
} LgSourceRole;

typedef struct LgSourcesFileHeader
{
	uint32		magic;
	uint32		format;
	uint32		entry_size;		/* sizeof(LeakguardSourceData) */
	int32		nsources;		/* least recently seen first */
	uint64		evicted;
} LgSourcesFileHeader;

static LeakguardSources *lg_sources = NULL;
static HTAB *lg_source_hash = NULL;
static HTAB *lg_source_roles = NULL;

static void lg_sources_load(void);
static uint32 lg_source_key_hash(const void *key, Size keysize);
static void lg_sources_save(int code, Datum arg);

Size
lg_sources_shmem_size(void)
{
	Size		size;

	if (lg_max_sources == 0)
		return 0;
	size = add_size(offsetof(LeakguardSources, entries),
					mul_size(lg_max_sources, sizeof(LeakguardSource)));
	size = add_size(size, hash_estimate_size(lg_max_sources, sizeof(LgSourceIndex)));
	return add_size(size, hash_estimate_size(lg_max_sources, sizeof(LgSourceRole)));
}

/*
 * From shmem_startup_hook: attach to the table, or create it; in the
 * postmaster at start, load the file and arrange for it to be written at
 * exit.
 */
void
lg_sources_shmem_init(void)
{
	bool		found;
	HASHCTL		info;

	if (lg_max_sources == 0)
		return;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	lg_sources = ShmemInitStruct("leakguard sources",
								 add_size(offsetof(LeakguardSources, entries),
										  mul_size(lg_max_sources, sizeof(LeakguardSource))),
								 &found);
	if (!found)
	{
		lg_sources->evicted = 0;
		dlist_init(&lg_sources->lru);
		dlist_init(&lg_sources->free);
		for (int i = 0; i < lg_max_sources; i++)
		{
			lg_sources->entries[i].in_use = false;
			dlist_push_tail(&lg_sources->free, &lg_sources->entries[i].lru);
		}
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(LeakguardSourceKey);
	info.entrysize = sizeof(LgSourceIndex);
	info.hash = lg_source_key_hash;
	lg_source_hash = ShmemInitHash("leakguard sources by key",
								   lg_max_sources, lg_max_sources, &info,
								   HASH_ELEM | HASH_FUNCTION | HASH_FIXED_SIZE);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(LgSourceRole);
	lg_source_roles = ShmemInitHash("leakguard sources by role",
									lg_max_sources, lg_max_sources, &info,
									HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);

	if (!IsUnderPostmaster && !found)
	{
		lg_sources_load();
		on_shmem_exit(lg_sources_save, (Datum) 0);
	}
}

/*
 * The hash of a key: of the application name up to its end, not of all
 * NAMEDATALEN bytes (the rest are zeros), and of the other fields.  Keys
 * are compared whole (memcmp), as HASH_BLOBS would.
 */
static uint32
lg_source_key_hash(const void *key, Size keysize)
{
	const LeakguardSourceKey *k = (const LeakguardSourceKey *) key;
	uint32		h;

	h = hash_bytes((const unsigned char *) k->appname,
				   strnlen(k->appname, NAMEDATALEN));
	h = hash_combine(h, hash_bytes_uint32((uint32) k->id));
	h = hash_combine(h, hash_bytes_uint32((uint32) ((uint64) k->id >> 32)));
	h = hash_combine(h, hash_bytes_uint32(k->userid));
	h = hash_combine(h, hash_bytes_uint32(k->datid));
	return hash_combine(h, hash_bytes_uint32((uint32) (k->kind * 2 + k->by_text)));
}

/* Take an entry off the lists and the hashes, onto the free list. */
static void
lg_source_forget(LeakguardSource *src)
{
	LgSourceRole *role;

	Assert(src->in_use);
	hash_search(lg_source_hash, &src->data.key, HASH_REMOVE, NULL);
	role = src->role;
	Assert(role->count > 0);
	dlist_delete(&src->role_lru);
	if (--role->count == 0)
		hash_search(lg_source_roles, &src->data.key.userid, HASH_REMOVE, NULL);
	dlist_delete(&src->lru);
	src->in_use = false;
	dlist_push_tail(&lg_sources->free, &src->lru);
}

/*
 * The entry a new source of role userid takes the place of, the table
 * being full (see the top of the file).
 */
static LeakguardSource *
lg_source_victim(Oid userid, TimestampTz now)
{
	LeakguardSource *oldest;
	LgSourceRole *most = NULL;
	LgSourceRole *role;
	HASH_SEQ_STATUS seq;

	oldest = dlist_head_element(LeakguardSource, lru, &lg_sources->lru);
	if (now - oldest->data.last_seen >= LG_SOURCE_RECENT_US)
		return oldest;

	hash_seq_init(&seq, lg_source_roles);
	while ((role = hash_seq_search(&seq)) != NULL)
		if (most == NULL || role->count > most->count)
			most = role;
	role = hash_search(lg_source_roles, &userid, HASH_FIND, NULL);
	if (role != NULL && role->count >= most->count)
		most = role;
	return dlist_head_element(LeakguardSource, role_lru, &most->lru);
}

/*
 * The entry of a source, made if it is new (taking the place of another
 * when the table is full), and made the most recently seen; NULL only if
 * the hashes had no room, which their sizes rule out.
 */
static LeakguardSource *
lg_source_enter(const LeakguardSourceKey *key, TimestampTz now, bool evict)
{
	LgSourceIndex *index;
	LgSourceRole *role;
	LeakguardSource *src;
	bool		found;

	index = hash_search(lg_source_hash, key, HASH_FIND, NULL);
	if (index != NULL)
	{
		src = index->source;
		dlist_move_tail(&lg_sources->lru, &src->lru);
		dlist_move_tail(&src->role->lru, &src->role_lru);
		return src;
	}

	if (dlist_is_empty(&lg_sources->free))
	{
		if (!evict)
			return NULL;
		lg_source_forget(lg_source_victim(key->userid, now));
		lg_sources->evicted++;
	}

	index = hash_search(lg_source_hash, key, HASH_ENTER_NULL, &found);
	if (index == NULL)
		return NULL;
	role = hash_search(lg_source_roles, &key->userid, HASH_ENTER_NULL, &found);
	if (role == NULL)
	{
		hash_search(lg_source_hash, key, HASH_REMOVE, NULL);
		return NULL;
	}
	if (!found)
	{
		role->count = 0;
		dlist_init(&role->lru);
	}

	src = dlist_container(LeakguardSource, lru, dlist_pop_head_node(&lg_sources->free));
	memset(&src->data, 0, sizeof(src->data));
	src->data.key = *key;
	src->data.first_seen = now;
	src->in_use = true;
	index->source = src;
	src->role = role;
	role->count++;
	dlist_push_tail(&role->lru, &src->role_lru);
	dlist_push_tail(&lg_sources->lru, &src->lru);
	return src;
}

/*
 * Count a session the worker terminated or reported in dry_run, whose
 * last statement had query id query_id (0: none computed) and the text
 * ev->query.  Caller holds LeakguardShared->lock exclusive.
 */
void
lg_sources_record(const LeakguardEvent *ev, int64 query_id)
{
	LeakguardSourceKey key;
	LeakguardSource *src;
	int64		held = Max(ev->lasted_us, 0);

	if (lg_sources == NULL || !lg_kinds[ev->kind].session ||
		(ev->action != LG_ACTION_TERMINATED && ev->action != LG_ACTION_DRY_RUN))
		return;

	memset(&key, 0, sizeof(key));
	key.userid = ev->userid;
	key.datid = ev->datid;
	key.kind = ev->kind;
	if (query_id != 0)
		key.id = query_id;
	else
	{
		key.id = (int64) lg_fingerprint(ev->query, NULL, 0);
		key.by_text = 1;
	}
	memcpy(key.appname, ev->appname, strnlen(ev->appname, NAMEDATALEN - 1));

	src = lg_source_enter(&key, ev->at, true);
	if (src == NULL)
		return;
	src->data.leaks++;
	if (ev->action == LG_ACTION_DRY_RUN)
		src->data.dry_run++;
	src->data.total_held_us += held;
	src->data.max_held_us = Max(src->data.max_held_us, held);
	src->data.last_seen = Max(src->data.last_seen, ev->at);
	memcpy(&src->data.client_addr, &ev->client_addr, sizeof(SockAddr));
	/* whole: the event's text is padded with zeros (scan.c) */
	memcpy(src->data.query, ev->query, LG_QUERY_TEXT_LEN);
	src->data.query[LG_QUERY_TEXT_LEN - 1] = '\0';
}

/* Forget every source.  Caller holds LeakguardShared->lock exclusive. */
void
lg_sources_reset(void)
{
	if (lg_sources == NULL)
		return;
	while (!dlist_is_empty(&lg_sources->lru))
		lg_source_forget(dlist_head_element(LeakguardSource, lru, &lg_sources->lru));
	lg_sources->evicted = 0;
}

/* Sources pushed out so far.  Caller holds LeakguardShared->lock. */
uint64
lg_sources_evicted(void)
{
	return lg_sources ? lg_sources->evicted : 0;
}

/*
 * Copy the sources in use among the next LG_SOURCES_CHUNK entries, from
 * entry *next on, into out, under the lock held shared; returns how many.
 * The table has been gone through when *next reaches max_sources.  Each
 * source is copied as it is at one moment; a source pushed out and made
 * again between two chunks may be seen twice.
 */
int
lg_sources_copy(int *next, LeakguardSourceData *out)
{
	int			n = 0;
	int			upto = Min(*next + LG_SOURCES_CHUNK, lg_max_sources);

	if (lg_sources == NULL)
	{
		*next = lg_max_sources;
		return 0;
	}
	lg_lock_reader();
	for (; *next < upto; (*next)++)
		if (lg_sources->entries[*next].in_use)
			memcpy(&out[n++], &lg_sources->entries[*next].data,
				   sizeof(LeakguardSourceData));
	LWLockRelease(lg_shared->lock);
	return n;
}

/* Whether a saved source could have been written by leakguard. */
static const char *
lg_source_invalid(const LeakguardSourceData *s)
{
	if (memchr(s->key.appname, '\0', sizeof(s->key.appname)) == NULL ||
		memchr(s->query, '\0', sizeof(s->query)) == NULL)
		return "a string without its terminator";
	if (s->key.kind < 0 || s->key.kind > LG_KIND_LAST ||
		!lg_kinds[s->key.kind].session)
		return "a kind that is not a limit on sessions";
	if (s->key.by_text != 0 && s->key.by_text != 1)
		return "an unknown key";
	if (s->leaks <= 0 || s->dry_run < 0 || s->dry_run > s->leaks ||
		s->total_held_us < 0 || s->max_held_us < 0 ||
		s->max_held_us > s->total_held_us)
		return "a counter out of range";
	if (s->client_addr.salen > sizeof(s->client_addr.addr))
		return "a client address longer than its buffer";
	return NULL;
}

/* Read the file into the table, then delete it (see the top of the file). */
static void
lg_sources_load(void)
{
	Size		size = 0;
	char	   *buf = NULL;
	LgSourcesFileHeader hdr;
	pg_crc32c	crc;
	pg_crc32c	stored;
	const char *invalid = NULL;
	TimestampTz now;
	size_t		len;
	int			i;

	buf = lg_read_whole_file(LG_SOURCES_FILE, "sources",
							 sizeof(hdr) + sizeof(pg_crc32c), &size);
	if (buf == NULL)
		goto done;

	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != LG_SOURCES_MAGIC || hdr.format != LG_SOURCES_FORMAT ||
		hdr.entry_size != sizeof(LeakguardSourceData) || hdr.nsources < 0 ||
		size != sizeof(hdr) +
		(Size) hdr.nsources * sizeof(LeakguardSourceData) + sizeof(pg_crc32c))
	{
		ereport(LOG,
				(errmsg("ignoring leakguard sources file \"%s\" of another format",
						LG_SOURCES_FILE)));
		goto done;
	}
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, size - sizeof(pg_crc32c));
	FIN_CRC32C(crc);
	memcpy(&stored, buf + size - sizeof(pg_crc32c), sizeof(stored));
	if (!EQ_CRC32C(crc, stored))
	{
		ereport(LOG,
				(errmsg("ignoring corrupted leakguard sources file \"%s\"",
						LG_SOURCES_FILE)));
		goto done;
	}
	for (i = 0; i < hdr.nsources && invalid == NULL; i++)
	{
		LeakguardSourceData saved;

		memcpy(&saved, buf + sizeof(hdr) + i * sizeof(saved), sizeof(saved));
		invalid = lg_source_invalid(&saved);
	}
	if (invalid != NULL)
	{
		ereport(LOG,
				(errmsg("ignoring invalid leakguard sources file \"%s\": it holds %s",
						LG_SOURCES_FILE, invalid)));
		goto done;
	}

	/* Least recently seen first: when fewer fit, the newest are kept. */
	now = GetCurrentTimestamp();
	for (i = Max(0, hdr.nsources - lg_max_sources); i < hdr.nsources; i++)
	{
		LeakguardSourceData saved;
		LeakguardSource *src;

		memcpy(&saved, buf + sizeof(hdr) + i * sizeof(saved), sizeof(saved));

		/*
		 * Keys are compared as bytes: whatever follows the name's terminator
		 * would tell two entries of one source apart.
		 */
		len = strlen(saved.key.appname);
		memset(saved.key.appname + len, 0, sizeof(saved.key.appname) - len);
		/* never seen later than now, which would keep it from making room */
		saved.last_seen = Min(saved.last_seen, now);
		saved.first_seen = Min(saved.first_seen, saved.last_seen);
		src = lg_source_enter(&saved.key, saved.last_seen, false);
		if (src != NULL)
			memcpy(&src->data, &saved, sizeof(saved));
	}
	lg_sources->evicted = hdr.evicted;

done:
	if (buf != NULL)
		pfree(buf);
	/* A file read once must not survive into a crash. */
	if (unlink(LG_SOURCES_FILE) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", LG_SOURCES_FILE)));
}

/*
 * on_shmem_exit callback of the postmaster: after a clean shutdown, with
 * save_stats on, write the sources, least recently seen first.
 */
static void
lg_sources_save(int code, Datum arg)
{
	const char *tmpfile = LG_SOURCES_FILE ".tmp";
	LgSourcesFileHeader hdr;
	FILE	   *file;
	pg_crc32c	crc;
	dlist_iter	iter;
	bool		ok;

	if (code != 0 || !lg_save_stats || lg_sources == NULL ||
		!lg_shutdown_was_clean())
		return;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = LG_SOURCES_MAGIC;
	hdr.format = LG_SOURCES_FORMAT;
	hdr.entry_size = sizeof(LeakguardSourceData);
	hdr.evicted = lg_sources->evicted;
	dlist_foreach(iter, &lg_sources->lru)
		hdr.nsources++;

	file = AllocateFile(tmpfile, PG_BINARY_W);
	if (file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for writing: %m", tmpfile)));
		return;
	}
	INIT_CRC32C(crc);
	ok = lg_file_write(file, &hdr, sizeof(hdr), &crc);
	dlist_foreach(iter, &lg_sources->lru)
	{
		LeakguardSource *src = dlist_container(LeakguardSource, lru, iter.cur);

		if (!ok)
			break;
		ok = lg_file_write(file, &src->data, sizeof(src->data), &crc);
	}
	lg_file_finish(file, tmpfile, LG_SOURCES_FILE, crc, ok);
}
