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
 * Format 5 (leakguard 1.3) names its kinds of limit: after the header, the
 * SQL name of each kind (lg_kinds[]) the file has counters for, and whether
 * the file keeps a histogram of that kind's periods; each application's
 * entry is the counters common to all kinds, when it was last seen and the
 * role that made it (shmem.c: which entry makes room when the table is
 * full), then, per named kind, its counters and, for a kind with one, the
 * histogram (a kind without one costs no histogram's bytes).  The
 * history's events name their kind by its place in that list.  So a
 * file's counters load by the kind's
 * name, whatever order or set of kinds the version that wrote it had: a
 * kind this version does not know is left out with a LOG line.  Format 3
 * (leakguard 1.2: the structures of that version, a pair of named
 * counters per kind) is read field by field into the kinds they count,
 * its entries belonging to no role and last seen when they are loaded.
 * Format 4 was never released.  A file of format 1 (1.0) or 2 (1.1) is
 * ignored with a LOG line, and the statistics start empty.
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
#include "postgres.h"

#include "utils/memutils.h"

#include "histogram.h"
#include "hooks.h"
#include "kinds.h"
#include "persist.h"
#include "settings.h"
#include "shmem.h"
#include "stats.h"

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
#define LG_STATS_FORMAT_12	3			/* leakguard 1.2's, read */
#define LG_STATS_FORMAT		5			/* written */
#define LG_KIND_NAME_LEN	32

typedef struct LgStatsFileHeader
{
	uint32		magic;
	uint32		format;
	uint32		app_size;		/* bytes per application entry */
	uint32		event_size;		/* sizeof(LeakguardEvent) */
	int32		napps;			/* entries after the overflow entry */
	int32		nevents;		/* oldest first */
	TimestampTz stats_reset;
} LgStatsFileHeader;

/* Format 5: after the header, this, then nkinds LgStatsFileKindName. */
typedef struct LgStatsFileKinds
{
	uint32		nkinds;
	uint32		counts_size;	/* sizeof(LeakguardKindCounts) */
	uint32		histogram_size; /* sizeof(LeakguardHistogram) */
} LgStatsFileKinds;

typedef struct LgStatsFileKindName
{
	char		name[LG_KIND_NAME_LEN]; /* its SQL name, NUL-padded */
	uint32		histogram;		/* 1: its records hold a histogram */
} LgStatsFileKindName;

/*
 * Format 5: an application's entry (the overflow row's too, with last_seen
 * 0 and no owner), followed by each named kind's LeakguardKindCounts, and
 * its LeakguardHistogram when the name says it has one.
 */
typedef struct LgStatsFileApp
{
	char		name[NAMEDATALEN];
	int64		peak_connections;
	int64		episodes;
	int64		total_idle_us;
	int64		max_idle_us;
	int64		buckets[LG_NUM_BUCKETS];
	TimestampTz last_terminated_at;
	TimestampTz first_seen;
	int32		daily_peaks[LG_PEAK_DAYS];
	int64		peak_day;
	TimestampTz last_seen;
	Oid			owner;
} LgStatsFileApp;

/*
 * Format 3: leakguard 1.2's LeakguardAppStats and LeakguardEvent, as that
 * version wrote them.  Its kinds were, in this order, idle in transaction,
 * idle, the connection quota (which 1.2 named "quota"), transaction, xmin
 * and blocking: the LeakguardKind values they still have.
 */
typedef struct LgStatsV12
{
	char		name[NAMEDATALEN];
	int64		peak_connections;
	int64		episodes;
	int64		terminated;
	int64		dry_run;
	int64		idle_terminated;
	int64		idle_dry_run;
	int64		refused;
	int64		refused_dry_run;
	int64		total_idle_us;
	int64		max_idle_us;
	int64		buckets[LG_NUM_BUCKETS];
	TimestampTz last_terminated_at;
	TimestampTz first_seen;
	uint64		scan_no;
	int32		scan_connections;
	int32		daily_peaks[LG_PEAK_DAYS];
	int64		peak_day;
	LeakguardHistogram observed[3];
	int64		transaction_terminated;
	int64		transaction_dry_run;
	int64		xmin_terminated;
	int64		xmin_dry_run;
	int64		blocking_terminated;
	int64		blocking_dry_run;
} LgStatsV12;

typedef struct LgEventV12
{
	TimestampTz at;
	int			pid;
	int			action;
	int			kind;
	Oid			datid;
	Oid			userid;
	TimestampTz backend_start;
	TimestampTz xact_start;
	TimestampTz state_change;
	int64		idle_us;
	int64		timeout_ms;
	int64		xmin_age;
	int64		blocked_us;
	int			nblocked;
	int			blocked_pids[8];
	SockAddr	client_addr;
	char		appname[NAMEDATALEN];
	char		rule[128];
	char		query[1024];
} LgEventV12;

#define LG_V12_KINDS		6
#define LG_V12_ACTION_LAST	5	/* refused */

/* An application's entry as loaded, whatever the format. */
typedef struct LgLoadedApp
{
	LeakguardAppStats stats;
	TimestampTz last_seen;
	Oid			owner;
} LgLoadedApp;

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
	if (a->peak_connections < 0 || a->episodes < 0 ||
		a->total_idle_us < 0 || a->max_idle_us < 0)
		return "a negative counter";
	for (i = 0; i < LG_NUM_KINDS; i++)
		if (a->kinds[i].acted < 0 || a->kinds[i].dry_run < 0)
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
	if (e->lasted_us < 0 || e->limit < 0 || e->pid < 0 ||
		e->blocked_us < 0 || e->nblocked < 0 || e->xmin_age < 0)
		return "a negative time, pid or count";
	if (e->kind == LG_KIND_CONNECTIONS &&
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

/* An entry of format 3 (1.2), as this version keeps it. */
static void
lg_app_from_v12(const char *p, LgLoadedApp *out, TimestampTz stats_reset)
{
	LgStatsV12	v;
	LeakguardAppStats *a = &out->stats;

	memcpy(&v, p, sizeof(v));
	memset(out, 0, sizeof(*out));
	memcpy(a->name, v.name, NAMEDATALEN);
	a->peak_connections = v.peak_connections;
	a->episodes = v.episodes;
	a->total_idle_us = v.total_idle_us;
	a->max_idle_us = v.max_idle_us;
	memcpy(a->buckets, v.buckets, sizeof(a->buckets));
	a->last_terminated_at = v.last_terminated_at;
	a->first_seen = v.first_seen;
	memcpy(a->daily_peaks, v.daily_peaks, sizeof(a->daily_peaks));
	a->peak_day = v.peak_day;
	a->observed[LG_OBSERVED_XACT_IDLE] = v.observed[0];
	a->observed[LG_OBSERVED_IDLE] = v.observed[1];
	a->observed[LG_OBSERVED_TRANSACTION] = v.observed[2];
	a->kinds[LG_KIND_IDLE_IN_XACT].acted = v.terminated;
	a->kinds[LG_KIND_IDLE_IN_XACT].dry_run = v.dry_run;
	a->kinds[LG_KIND_IDLE].acted = v.idle_terminated;
	a->kinds[LG_KIND_IDLE].dry_run = v.idle_dry_run;
	a->kinds[LG_KIND_CONNECTIONS].acted = v.refused;
	a->kinds[LG_KIND_CONNECTIONS].dry_run = v.refused_dry_run;
	a->kinds[LG_KIND_TRANSACTION].acted = v.transaction_terminated;
	a->kinds[LG_KIND_TRANSACTION].dry_run = v.transaction_dry_run;
	a->kinds[LG_KIND_XMIN].acted = v.xmin_terminated;
	a->kinds[LG_KIND_XMIN].dry_run = v.xmin_dry_run;
	a->kinds[LG_KIND_BLOCKING].acted = v.blocking_terminated;
	a->kinds[LG_KIND_BLOCKING].dry_run = v.blocking_dry_run;
	/* seen last, for all we know, when its statistics began; no owner */
	out->last_seen = stats_reset;
	out->owner = InvalidOid;
}

/* An event of format 3 (1.2); its kind and action values are today's. */
static void
lg_event_from_v12(const char *p, LeakguardEvent *e)
{
	LgEventV12	v;

	memcpy(&v, p, sizeof(v));
	memset(e, 0, sizeof(*e));
	e->at = v.at;
	e->pid = v.pid;
	e->action = (v.action >= 0 && v.action <= LG_V12_ACTION_LAST) ? v.action : -1;
	e->kind = (v.kind >= 0 && v.kind < LG_V12_KINDS) ? v.kind : -1;
	e->datid = v.datid;
	e->userid = v.userid;
	e->backend_start = v.backend_start;
	e->xact_start = v.xact_start;
	e->state_change = v.state_change;
	e->lasted_us = v.idle_us;
	e->limit = v.timeout_ms;
	e->xmin_age = v.xmin_age;
	e->blocked_us = v.blocked_us;
	e->nblocked = v.nblocked;
	memcpy(e->blocked_pids, v.blocked_pids, sizeof(e->blocked_pids));
	e->client_addr = v.client_addr;
	memcpy(e->appname, v.appname, sizeof(e->appname));
	memcpy(e->rule, v.rule, sizeof(e->rule));
	memcpy(e->query, v.query, sizeof(e->query));
}

/*
 * An entry of format 5, whose nkinds kind records are those of the kinds
 * kind_map[] gives (-1: a kind this version does not know, left out), with
 * a histogram where has_histogram[] says so.  NULL, or what makes it
 * invalid.
 */
static const char *
lg_app_from_v5(const char *p, const int *kind_map, const bool *has_histogram,
			   int nkinds, LgLoadedApp *out)
{
	LgStatsFileApp f;
	LeakguardAppStats *a = &out->stats;

	memcpy(&f, p, sizeof(f));
	memset(out, 0, sizeof(*out));
	memcpy(a->name, f.name, NAMEDATALEN);
	a->peak_connections = f.peak_connections;
	a->episodes = f.episodes;
	a->total_idle_us = f.total_idle_us;
	a->max_idle_us = f.max_idle_us;
	memcpy(a->buckets, f.buckets, sizeof(a->buckets));
	a->last_terminated_at = f.last_terminated_at;
	a->first_seen = f.first_seen;
	memcpy(a->daily_peaks, f.daily_peaks, sizeof(a->daily_peaks));
	a->peak_day = f.peak_day;
	out->last_seen = f.last_seen;
	out->owner = f.owner;

	p += sizeof(f);
	for (int i = 0; i < nkinds; i++)
	{
		LeakguardKindCounts counts;
		LeakguardHistogram observed;
		int			k = kind_map[i];

		memcpy(&counts, p, sizeof(counts));
		p += sizeof(counts);
		if (has_histogram[i])
		{
			memcpy(&observed, p, sizeof(observed));
			p += sizeof(observed);
			if (!lg_hist_valid(&observed))
				return "a histogram whose counts do not add up";
		}
		if (k < 0)
			continue;
		a->kinds[k] = counts;
		if (has_histogram[i] && lg_kinds[k].observed >= 0)
			a->observed[lg_kinds[k].observed] = observed;
	}
	return NULL;
}

void
lg_stats_load(void)
{
	Size		len = 0;
	char	   *buf = lg_read_whole_file(LG_STATS_FILE, "statistics",
										 sizeof(LgStatsFileHeader) + sizeof(pg_crc32c),
										 &len);
	LgStatsFileHeader hdr;
	LgStatsFileKinds kh = {0};
	int			kind_map[LG_NUM_KINDS * 8];
	bool		has_histogram[LG_NUM_KINDS * 8];
	pg_crc32c	crc;
	pg_crc32c	stored;
	const char *p;
	Size		head;
	Size		app_size;
	Size		event_size;
	LgLoadedApp *apps = NULL;
	LeakguardEvent *events = NULL;
	int			i;
	int			nrefusals = 0;
	int			nunknown = 0;
	int			skip_events;
	int			skip_refusals;
	const char *invalid = NULL;
	TimestampTz now = GetCurrentTimestamp();

	lg_shared->stats_reset = now;
	if (buf == NULL)
		return;

	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic == LG_STATS_MAGIC &&
		hdr.format != LG_STATS_FORMAT_12 && hdr.format != LG_STATS_FORMAT)
	{
		/*
		 * Format 1 is leakguard 1.0's, 2 is 1.1's: other structures, not to
		 * be misread.
		 */
		ereport(LOG,
				(errmsg("ignoring leakguard statistics file \"%s\" of format %u; this leakguard reads formats %u and %u, and starts with empty statistics",
						LG_STATS_FILE, hdr.format, LG_STATS_FORMAT_12, LG_STATS_FORMAT)));
		goto done;
	}

	/* The layout the header announces, checked against the file's size. */
	head = sizeof(hdr);
	if (hdr.format == LG_STATS_FORMAT_12)
	{
		app_size = sizeof(LgStatsV12);
		event_size = sizeof(LgEventV12);
	}
	else
	{
		if (len >= sizeof(hdr) + sizeof(kh))
			memcpy(&kh, buf + sizeof(hdr), sizeof(kh));
		if (kh.nkinds > lengthof(kind_map) ||
			kh.counts_size != sizeof(LeakguardKindCounts) ||
			kh.histogram_size != sizeof(LeakguardHistogram) ||
			len < sizeof(hdr) + sizeof(kh) +
			(Size) kh.nkinds * sizeof(LgStatsFileKindName))
			kh.nkinds = 0;		/* refused below */
		head += sizeof(kh) + (Size) kh.nkinds * sizeof(LgStatsFileKindName);

		/* An entry holds each kind's counters, and the histograms named. */
		app_size = sizeof(LgStatsFileApp);
		for (i = 0; i < (int) kh.nkinds; i++)
		{
			LgStatsFileKindName kn;

			memcpy(&kn, buf + sizeof(hdr) + sizeof(kh) + i * sizeof(kn),
				   sizeof(kn));
			has_histogram[i] = kn.histogram != 0;
			app_size += sizeof(LeakguardKindCounts) +
				(has_histogram[i] ? sizeof(LeakguardHistogram) : 0);
		}
		event_size = sizeof(LeakguardEvent);
	}
	if (hdr.magic != LG_STATS_MAGIC ||
		(hdr.format == LG_STATS_FORMAT && kh.nkinds == 0) ||
		hdr.app_size != app_size || hdr.event_size != event_size ||
		hdr.napps < 0 || hdr.nevents < 0 ||
		hdr.napps > LG_MAX_APPLICATIONS_MAX ||
		hdr.nevents > 2 * LG_HISTORY_SIZE_MAX ||
		len != head + ((Size) hdr.napps + 1) * app_size +
		(Size) hdr.nevents * event_size + sizeof(pg_crc32c))
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

	/* Format 5: the kinds it counts, by name. */
	p = buf + sizeof(hdr) + sizeof(kh);
	for (i = 0; i < (int) kh.nkinds && invalid == NULL;
		 i++, p += sizeof(LgStatsFileKindName))
	{
		LgStatsFileKindName kn;

		memcpy(&kn, p, sizeof(kn));
		if (!lg_field_terminated(kn.name, sizeof(kn.name)))
			invalid = "a kind's name without its terminator";
		else if (kn.histogram > 1)
			invalid = "a kind's histogram flag out of range";
		else
		{
			kind_map[i] = lg_kind_by_name(kn.name);
			for (int j = 0; j < i; j++)
				if (kind_map[j] >= 0 && kind_map[j] == kind_map[i])
					invalid = "a kind named twice";
		}
	}

	/* Everything is decoded and checked before anything is loaded. */
	apps = palloc((hdr.napps + 1) * sizeof(LgLoadedApp));
	events = palloc(Max(hdr.nevents, 1) * sizeof(LeakguardEvent));
	p = buf + head;
	for (i = 0; invalid == NULL && i <= hdr.napps; i++, p += app_size)
	{
		if (hdr.format == LG_STATS_FORMAT_12)
			lg_app_from_v12(p, &apps[i], hdr.stats_reset);
		else
			invalid = lg_app_from_v5(p, kind_map, has_histogram, kh.nkinds,
									 &apps[i]);
		if (invalid == NULL)
			invalid = lg_app_invalid(&apps[i].stats);
	}
	for (i = 0; invalid == NULL && i < hdr.nevents; i++, p += event_size)
	{
		if (hdr.format == LG_STATS_FORMAT_12)
			lg_event_from_v12(p, &events[i]);
		else
		{
			memcpy(&events[i], p, sizeof(LeakguardEvent));
			if (events[i].kind < 0 || events[i].kind >= (int) kh.nkinds)
			{
				invalid = "an unknown kind";
				break;
			}
			events[i].kind = kind_map[events[i].kind];
			if (events[i].kind < 0)
			{
				nunknown++;		/* a kind this version does not know */
				continue;
			}
		}
		invalid = lg_event_invalid(&events[i]);
		if (events[i].kind == LG_KIND_CONNECTIONS)
			nrefusals++;
	}
	if (invalid != NULL)
	{
		ereport(LOG,
				(errmsg("ignoring invalid leakguard statistics file \"%s\": it holds %s",
						LG_STATS_FILE, invalid)));
		goto done;
	}
	for (i = 0; i < (int) kh.nkinds; i++)
		if (kind_map[i] < 0)
			ereport(LOG,
					(errmsg("leakguard statistics file \"%s\" counts a kind of limit this leakguard does not know, \"%s\"; its counters and history are left out",
							LG_STATS_FILE,
							buf + sizeof(hdr) + sizeof(kh) +
							i * sizeof(LgStatsFileKindName))));

	memcpy((char *) &lg_shared->overflow + NAMEDATALEN,
		   (char *) &apps[0].stats + NAMEDATALEN,
		   sizeof(LeakguardAppStats) - NAMEDATALEN);
	lg_shared->overflow.scan_no = 0;

	for (i = 1; i <= hdr.napps; i++)
	{
		LeakguardAppStats *saved = &apps[i].stats;
		LeakguardAppStats *entry;

		saved->name[NAMEDATALEN - 1] = '\0';

		/*
		 * Never seen later than now: an entry seen in the future would be
		 * the last to make room, for as long as that future lasts.
		 */
		apps[i].last_seen = Min(apps[i].last_seen, now);
		entry = lg_stats_entry(saved->name, apps[i].owner, apps[i].last_seen);

		/*
		 * Into the overflow row, or a row that several saved names share (a
		 * Citus internal connection's, saved by a version that kept a row
		 * per gpid): added up.
		 */
		if (entry == &lg_shared->overflow || strcmp(entry->name, saved->name) != 0)
			lg_stats_merge(entry, saved);
		else
			memcpy(entry, saved, sizeof(*saved));
		/* Scan numbers start again with this server. */
		entry->scan_no = 0;
	}

	/* The newest history_size events of each ring. */
	skip_events = Max(0, hdr.nevents - nunknown - nrefusals - lg_history_size);
	skip_refusals = Max(0, nrefusals - lg_history_size);
	for (i = 0; i < hdr.nevents; i++)
	{
		if (events[i].kind < 0)
			continue;
		if (events[i].kind == LG_KIND_CONNECTIONS && skip_refusals > 0)
			skip_refusals--;
		else if (events[i].kind != LG_KIND_CONNECTIONS && skip_events > 0)
			skip_events--;
		else
			lg_history_add(&events[i]);
	}

	lg_shared->stats_reset = hdr.stats_reset;

done:
	pfree(buf);
	if (apps != NULL)
		pfree(apps);
	if (events != NULL)
		pfree(events);
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
 * Write one application's entry in format 5: the counters common to all
 * kinds, then each kind's, in the order of the names the header lists
 * (lg_kinds[]).  Padding is zeroed: the file is the same for the same
 * statistics.
 */
static bool
lg_write_app(FILE *file, const LeakguardAppStats *a, TimestampTz last_seen,
			 Oid owner, pg_crc32c *crc)
{
	LgStatsFileApp f;
	bool		ok;

	memset(&f, 0, sizeof(f));
	memcpy(f.name, a->name, NAMEDATALEN);
	f.peak_connections = a->peak_connections;
	f.episodes = a->episodes;
	f.total_idle_us = a->total_idle_us;
	f.max_idle_us = a->max_idle_us;
	memcpy(f.buckets, a->buckets, sizeof(f.buckets));
	f.last_terminated_at = a->last_terminated_at;
	f.first_seen = a->first_seen;
	memcpy(f.daily_peaks, a->daily_peaks, sizeof(f.daily_peaks));
	f.peak_day = a->peak_day;
	f.last_seen = last_seen;
	f.owner = owner;
	ok = lg_file_write(file, &f, sizeof(f), crc);

	/* written from shared memory as they are: no padding to zero */
	StaticAssertStmt(sizeof(LeakguardKindCounts) == 3 * sizeof(int64),
					 "LeakguardKindCounts has no padding");
	StaticAssertStmt(sizeof(LeakguardHistogram) ==
					 (2 + LG_HIST_BUCKETS) * sizeof(int64_t),
					 "LeakguardHistogram has no padding");
	for (int k = 0; ok && k < LG_NUM_KINDS; k++)
	{
		ok = lg_file_write(file, &a->kinds[k], sizeof(a->kinds[k]), crc);
		if (ok && lg_kinds[k].observed >= 0)
			ok = lg_file_write(file, &a->observed[lg_kinds[k].observed],
							   sizeof(LeakguardHistogram), crc);
	}
	return ok;
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
	LgStatsFileKinds kh;
	HASH_SEQ_STATUS seq;
	LeakguardAppEntry *entry;
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
	hdr.format = LG_STATS_FORMAT;
	hdr.app_size = sizeof(LgStatsFileApp);
	for (int k = 0; k < LG_NUM_KINDS; k++)
		hdr.app_size += sizeof(LeakguardKindCounts) +
			(lg_kinds[k].observed >= 0 ? sizeof(LeakguardHistogram) : 0);
	hdr.event_size = sizeof(LeakguardEvent);
	hdr.napps = (int32) hash_get_num_entries(lg_app_hash);
	hdr.nevents = (int32) (lg_shared->history_count - next +
						   lg_shared->refusal_count - refusal_next);
	hdr.stats_reset = lg_shared->stats_reset;
	memset(&kh, 0, sizeof(kh));
	kh.nkinds = LG_NUM_KINDS;
	kh.counts_size = sizeof(LeakguardKindCounts);
	kh.histogram_size = sizeof(LeakguardHistogram);

	file = AllocateFile(tmpfile, PG_BINARY_W);
	if (file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for writing: %m", tmpfile)));
		return;
	}

	INIT_CRC32C(crc);
	ok = lg_file_write(file, &hdr, sizeof(hdr), &crc) &&
		lg_file_write(file, &kh, sizeof(kh), &crc);
	for (int k = 0; ok && k < LG_NUM_KINDS; k++)
	{
		LgStatsFileKindName kn;

		StaticAssertStmt(sizeof("idle in transaction") <= LG_KIND_NAME_LEN,
						 "kind names fit");
		memset(&kn, 0, sizeof(kn));
		strlcpy(kn.name, lg_kinds[k].name, sizeof(kn.name));
		kn.histogram = lg_kinds[k].observed >= 0 ? 1 : 0;
		ok = lg_file_write(file, &kn, sizeof(kn), &crc);
	}
	if (ok)
		ok = lg_write_app(file, &lg_shared->overflow, 0, InvalidOid, &crc);

	hash_seq_init(&seq, lg_app_hash);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (ok)
			ok = lg_write_app(file, &entry->stats, entry->last_seen,
							  entry->owner, &crc);
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
