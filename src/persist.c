/*-------------------------------------------------------------------------
 *
 * persist.c
 *		Keep leakguard's statistics and history across clean restarts.
 *
 * The postmaster writes pg_stat/leakguard.stat when it exits after a clean
 * shutdown (pg_control says so) and leakguard.save_stats is on: first to a .tmp
 * file, then durable_rename(), so a torn file is never read.  At start it
 * reads the file back and deletes it at once, so that after a crash (when
 * nothing is written) the next start finds no file and the statistics begin
 * empty, with stats_reset telling when.  A file of another format, size or
 * checksum is ignored the same way, with a LOG line, and so is one whose
 * checksum is right but whose content could not have been written by
 * leakguard (a string without its NUL, an action out of range, a negative
 * counter, an address length beyond its buffer, a histogram whose counts
 * do not add up): nothing in it is trusted further than it is checked,
 * since readers print its strings.
 *
 * Before writing, it adds to the statistics the episodes the sessions
 * recorded since the worker's last scan (episodes.c), the periods the
 * shutdown ended among them.
 *
 * Format 3 (leakguard 1.2) added the histograms and daily peaks to each
 * application's entry; format 4 (1.3) adds to each entry when it was last
 * seen and the role that made it (shmem.c: which entry makes room when the
 * table is full).  A file of format 3 is read, its entries belonging to
 * no role and last seen when they are loaded; a file of format 1 (1.0) or
 * 2 (1.1) is ignored with a LOG line, and the statistics start empty.
 *
 * The history's two rings (terminations, and refused connections) are
 * written as one list of LeakguardEvent, oldest first, and the loader puts
 * each event back into its ring by kind.
 *
 * When max_applications shrank since the file was written, the applications
 * that no longer fit are added to the overflow row (shmem.c: they make room
 * as when the table fills); when history_size shrank, the newest events of
 * each ring are kept.  No total is lost either way.
 *
 * Shared state: runs in the postmaster while no other process is attached
 * (before any child is started, or after all have exited), so it takes no
 * lock.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog_internal.h"
#include "catalog/pg_control.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#define LG_STATS_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/leakguard.stat"
#define LG_STATS_MAGIC		0x4C474431	/* "LGD1" */
/* The oldest format this leakguard reads (1.2's). */
#define LG_STATS_FORMAT_OLDEST	3

typedef struct LgStatsFileHeader
{
	uint32		magic;
	uint32		format;
	uint32		app_size;		/* sizeof(LeakguardAppStats) */
	uint32		event_size;		/* sizeof(LeakguardEvent) */
	int32		napps;			/* entries after the overflow entry */
	int32		nevents;		/* oldest first */
	TimestampTz stats_reset;
} LgStatsFileHeader;

/*
 * An application's entry in the file (format 4; format 3 has the
 * statistics alone); the overflow row's too, with last_seen 0 and no owner.
 */
typedef struct LgStatsFileApp
{
	LeakguardAppStats stats;
	TimestampTz last_seen;
	Oid			owner;
} LgStatsFileApp;

/* Whether a fixed-size string field ends within its size. */
static bool
lg_field_terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

static const char *
lg_app_invalid(const LeakguardAppStats *a)
{
	int			i;

	if (!lg_field_terminated(a->name, sizeof(a->name)))
		return "an application name without its terminator";
	if (a->peak_connections < 0 || a->episodes < 0 || a->terminated < 0 ||
		a->dry_run < 0 || a->idle_terminated < 0 || a->idle_dry_run < 0 ||
		a->refused < 0 || a->refused_dry_run < 0 ||
		a->total_idle_us < 0 || a->max_idle_us < 0)
		return "a negative counter";
	for (i = 0; i < LG_NUM_BUCKETS; i++)
		if (a->buckets[i] < 0)
			return "a negative counter";
	if (a->peak_day < 0)
		return "a negative day";
	for (i = 0; i < LG_PEAK_DAYS; i++)
		if (a->daily_peaks[i] < 0)
			return "a negative counter";
	for (i = 0; i < LG_NUM_OBSERVED; i++)
		if (!lg_hist_valid(&a->observed[i]))
			return "a histogram whose counts do not add up";
	return NULL;
}

static const char *
lg_event_invalid(const LeakguardEvent *e)
{
	if (e->action < 0 || e->action > LG_ACTION_LAST)
		return "an unknown action";
	if (e->kind < 0 || e->kind > LG_KIND_LAST)
		return "an unknown kind";
	if (!lg_field_terminated(e->appname, sizeof(e->appname)) ||
		!lg_field_terminated(e->rule, sizeof(e->rule)) ||
		!lg_field_terminated(e->query, sizeof(e->query)))
		return "a string without its terminator";
	if (e->client_addr.salen > sizeof(e->client_addr.addr))
		return "a client address longer than its buffer";
	if (e->idle_us < 0 || e->timeout_ms < 0 || e->pid < 0 ||
		e->blocked_us < 0 || e->nblocked < 0 || e->xmin_age < 0)
		return "a negative time, pid or count";
	if (e->kind == LG_KIND_QUOTA &&
		e->action != LG_ACTION_REFUSED && e->action != LG_ACTION_DRY_RUN)
		return "a refused connection with another action";
	return NULL;
}

/*
 * Read the whole file path, a leakguard file of the kind what names, of at
 * least minsize bytes: its contents in the current context and its length
 * in *len, or NULL, with a LOG line when the file exists but cannot be
 * read whole, is too short or too large.  The statistics and the leak
 * sources files are read with it.
 */
char *
lg_read_whole_file(const char *path, const char *what, Size minsize, Size *len)
{
	struct stat st;
	FILE	   *file;
	char	   *buf;

	if (stat(path, &st) != 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", path)));
		return NULL;
	}
	if (st.st_size < (off_t) minsize || st.st_size > (off_t) MaxAllocSize)
	{
		ereport(LOG,
				(errmsg("ignoring leakguard %s file \"%s\" of unexpected size", what, path)));
		return NULL;
	}

	file = AllocateFile(path, PG_BINARY_R);
	if (file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
		return NULL;
	}
	buf = palloc(st.st_size);
	if (fread(buf, 1, st.st_size, file) != (size_t) st.st_size)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
		FreeFile(file);
		pfree(buf);
		return NULL;
	}
	FreeFile(file);
	*len = st.st_size;
	return buf;
}

void
lg_stats_load(void)
{
	Size		len = 0;
	char	   *buf = lg_read_whole_file(LG_STATS_FILE, "statistics",
										 sizeof(LgStatsFileHeader) + sizeof(pg_crc32c),
										 &len);
	LgStatsFileHeader hdr;
	pg_crc32c	crc;
	pg_crc32c	stored;
	const char *p;
	int			i;
	int			nrefusals = 0;
	int			skip_events;
	int			skip_refusals;
	const char *invalid = NULL;
	TimestampTz now = GetCurrentTimestamp();

	lg_shared->stats_reset = now;
	if (buf == NULL)
		return;

	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic == LG_STATS_MAGIC &&
		(hdr.format < LG_STATS_FORMAT_OLDEST || hdr.format > LG_FORMAT_VERSION))
	{
		/*
		 * Format 1 is leakguard 1.0's, 2 is 1.1's: other structures, not to
		 * be misread.
		 */
		ereport(LOG,
				(errmsg("ignoring leakguard statistics file \"%s\" of format %u; this leakguard reads formats %u to %u, and starts with empty statistics",
						LG_STATS_FILE, hdr.format, LG_STATS_FORMAT_OLDEST, LG_FORMAT_VERSION)));
		goto done;
	}
	if (hdr.magic != LG_STATS_MAGIC ||
		hdr.app_size != (hdr.format == LG_FORMAT_VERSION ?
						 sizeof(LgStatsFileApp) : sizeof(LeakguardAppStats)) ||
		hdr.event_size != sizeof(LeakguardEvent) ||
		hdr.napps < 0 || hdr.nevents < 0 ||
		len != sizeof(hdr) + ((Size) hdr.napps + 1) * hdr.app_size +
		(Size) hdr.nevents * hdr.event_size + sizeof(pg_crc32c))
	{
		ereport(LOG,
				(errmsg("ignoring leakguard statistics file \"%s\" of another format", LG_STATS_FILE)));
		goto done;
	}

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf, len - sizeof(pg_crc32c));
	FIN_CRC32C(crc);
	memcpy(&stored, buf + len - sizeof(pg_crc32c), sizeof(stored));
	if (!EQ_CRC32C(crc, stored))
	{
		ereport(LOG,
				(errmsg("ignoring corrupted leakguard statistics file \"%s\"", LG_STATS_FILE)));
		goto done;
	}

	/* Check everything before anything is loaded. */
	p = buf + sizeof(hdr);
	for (i = 0; i <= hdr.napps; i++, p += hdr.app_size)
	{
		LeakguardAppStats saved;

		memcpy(&saved, p, sizeof(saved));
		if ((invalid = lg_app_invalid(&saved)) != NULL)
			break;
	}
	for (i = 0; invalid == NULL && i < hdr.nevents; i++, p += sizeof(LeakguardEvent))
	{
		LeakguardEvent saved;

		memcpy(&saved, p, sizeof(saved));
		invalid = lg_event_invalid(&saved);
		if (saved.kind == LG_KIND_QUOTA)
			nrefusals++;
	}
	if (invalid != NULL)
	{
		ereport(LOG,
				(errmsg("ignoring invalid leakguard statistics file \"%s\": it holds %s",
						LG_STATS_FILE, invalid)));
		goto done;
	}

	p = buf + sizeof(hdr);
	memcpy((char *) &lg_shared->overflow + NAMEDATALEN, p + NAMEDATALEN,
		   sizeof(LeakguardAppStats) - NAMEDATALEN);
	lg_shared->overflow.scan_no = 0;
	p += hdr.app_size;

	for (i = 0; i < hdr.napps; i++, p += hdr.app_size)
	{
		LgStatsFileApp file_app;
		LeakguardAppStats saved;
		LeakguardAppStats *entry;

		memset(&file_app, 0, sizeof(file_app));
		memcpy(&file_app, p, hdr.app_size);
		memcpy(&saved, &file_app.stats, sizeof(saved));
		saved.name[NAMEDATALEN - 1] = '\0';
		if (hdr.format < LG_FORMAT_VERSION)
		{
			/* seen last, for all we know, when its statistics began */
			file_app.owner = InvalidOid;
			file_app.last_seen = hdr.stats_reset;
		}

		/*
		 * Never seen later than now: an entry seen in the future would be
		 * the last to make room, for as long as that future lasts.
		 */
		file_app.last_seen = Min(file_app.last_seen, now);
		entry = lg_stats_entry(saved.name, file_app.owner, file_app.last_seen);

		/*
		 * Into the overflow row, or a row that several saved names share (a
		 * Citus internal connection's, saved by a version that kept a row
		 * per gpid): added up.
		 */
		if (entry == &lg_shared->overflow || strcmp(entry->name, saved.name) != 0)
			lg_stats_merge(entry, &saved);
		else
			memcpy(entry, &saved, sizeof(saved));
		/* Scan numbers start again with this server. */
		entry->scan_no = 0;
	}

	/* The newest history_size events of each ring. */
	skip_events = Max(0, hdr.nevents - nrefusals - lg_history_size);
	skip_refusals = Max(0, nrefusals - lg_history_size);
	for (i = 0; i < hdr.nevents; i++, p += sizeof(LeakguardEvent))
	{
		LeakguardEvent event;

		memcpy(&event, p, sizeof(event));
		if (event.kind == LG_KIND_QUOTA && skip_refusals > 0)
			skip_refusals--;
		else if (event.kind != LG_KIND_QUOTA && skip_events > 0)
			skip_events--;
		else
			lg_history_add(&event);
	}

	lg_shared->stats_reset = hdr.stats_reset;

done:
	pfree(buf);
	/* A file read once must not survive into a crash. */
	if (unlink(LG_STATS_FILE) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", LG_STATS_FILE)));
}

/* Write len bytes to file and add them to *crc; whether they were written. */
bool
lg_file_write(FILE *file, const void *data, Size len, pg_crc32c *crc)
{
	COMP_CRC32C(*crc, data, len);
	return fwrite(data, 1, len, file) == len;
}

/*
 * End a leakguard file written to tmpfile: its CRC (crc, not yet
 * finished) last, then closed and renamed durably to path, unless ok says
 * an earlier write failed or this one does; then tmpfile is removed and a
 * LOG line says so.  The statistics and the leak sources files end so.
 */
void
lg_file_finish(FILE *file, const char *tmpfile, const char *path,
			   pg_crc32c crc, bool ok)
{
	FIN_CRC32C(crc);
	if (ok)
		ok = fwrite(&crc, 1, sizeof(crc), file) == sizeof(crc);
	if (ok)
		ok = FreeFile(file) == 0;
	else
		FreeFile(file);
	if (!ok)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmpfile)));
		unlink(tmpfile);
		return;
	}
	(void) durable_rename(tmpfile, path, LOG);
}

/*
 * Whether the server just went through a clean shutdown.  The postmaster's
 * exit code is not enough: it exits with 0 after an immediate shutdown too.
 * pg_control says "shut down" (or "shut down in recovery" on a standby) only
 * after the shutdown checkpoint or restartpoint has been written.  Also
 * asked by sources.c, which keeps its own file.
 */
bool
lg_shutdown_was_clean(void)
{
	ControlFileData control;
	pg_crc32c	crc;
	int			fd;
	bool		ok;

	/*
	 * Plain system calls, not get_controlfile(): this runs in the exiting
	 * postmaster, where an ERROR has nowhere to go.
	 */
	fd = open(XLOG_CONTROL_FILE, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		return false;
	ok = read(fd, &control, sizeof(control)) == sizeof(control);
	close(fd);
	if (!ok)
		return false;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, &control, offsetof(ControlFileData, crc));
	FIN_CRC32C(crc);
	return EQ_CRC32C(crc, control.crc) &&
		(control.state == DB_SHUTDOWNED ||
		 control.state == DB_SHUTDOWNED_IN_RECOVERY);
}

/*
 * on_shmem_exit callback of the postmaster.  After anything but a clean
 * shutdown, write nothing: the next start begins with empty statistics.
 */
void
lg_stats_save(int code, Datum arg)
{
	const char *tmpfile = LG_STATS_FILE ".tmp";
	FILE	   *file;
	LgStatsFileHeader hdr;
	HASH_SEQ_STATUS seq;
	LeakguardAppEntry *entry;
	LgStatsFileApp file_app;
	pg_crc32c	crc;
	uint64		next;
	uint64		refusal_next;
	LeakguardEvent refusal;
	bool		ok = true;

	if (code != 0 || !lg_save_stats || lg_shared == NULL ||
		!lg_shutdown_was_clean())
		return;

	/*
	 * The episodes the sessions recorded since the worker's last scan, the
	 * last periods of those that ended with the shutdown among them.
	 */
	lg_episodes_fold_all(GetCurrentTimestamp());

	next = lg_shared->history_count -
		Min(lg_shared->history_count, (uint64) lg_history_size);
	refusal_next = lg_shared->refusal_count -
		Min(lg_shared->refusal_count, (uint64) lg_history_size);

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = LG_STATS_MAGIC;
	hdr.format = LG_FORMAT_VERSION;
	hdr.app_size = sizeof(LgStatsFileApp);
	hdr.event_size = sizeof(LeakguardEvent);
	hdr.napps = (int32) hash_get_num_entries(lg_app_hash);
	hdr.nevents = (int32) (lg_shared->history_count - next +
						   lg_shared->refusal_count - refusal_next);
	hdr.stats_reset = lg_shared->stats_reset;

	file = AllocateFile(tmpfile, PG_BINARY_W);
	if (file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for writing: %m", tmpfile)));
		return;
	}

	INIT_CRC32C(crc);
	memset(&file_app, 0, sizeof(file_app));
	memcpy(&file_app.stats, &lg_shared->overflow, sizeof(LeakguardAppStats));
	ok = lg_file_write(file, &hdr, sizeof(hdr), &crc) &&
		lg_file_write(file, &file_app, sizeof(file_app), &crc);

	hash_seq_init(&seq, lg_app_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		/* padding zeroed: the file is the same for the same statistics */
		memset(&file_app, 0, sizeof(file_app));
		memcpy(&file_app.stats, &entry->stats, sizeof(LeakguardAppStats));
		file_app.last_seen = entry->last_seen;
		file_app.owner = entry->owner;
		if (ok)
			ok = lg_file_write(file, &file_app, sizeof(file_app), &crc);
	}

	/* Both rings, merged by time, oldest first. */
	while (ok && (next < lg_shared->history_count ||
				  refusal_next < lg_shared->refusal_count))
	{
		const LeakguardEvent *event = NULL;
		const LeakguardRefusal *r = NULL;

		if (next < lg_shared->history_count)
			event = &lg_shared->history[next % (uint64) lg_history_size];
		if (refusal_next < lg_shared->refusal_count)
			r = &lg_shared->refusals[refusal_next % (uint64) lg_history_size];
		if (r != NULL && (event == NULL || r->at <= event->at))
		{
			lg_refusal_event(r, &refusal);
			event = &refusal;
			refusal_next++;
		}
		else
			next++;
		ok = lg_file_write(file, event, sizeof(LeakguardEvent), &crc);
	}

	lg_file_finish(file, tmpfile, LG_STATS_FILE, crc, ok);
}
