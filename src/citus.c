/*-------------------------------------------------------------------------
 *
 * citus.c
 *		Citus's internal connections: recognising them, and the statistics
 *		row they are counted in.
 *
 * On a Citus cluster every node receives the connections that other nodes
 * (and its own maintenance daemon) open on behalf of a session: a
 * distributed query's connections to the workers, the rebalancer's,
 * run_command_on_*()'s.  Citus names them "citus_internal gpid=N",
 * "citus_rebalancer gpid=N" and "citus_run_command gpid=N", where N, the
 * session's global pid, is its node id * 10^10 + its pid.  Such a
 * connection is idle in transaction whenever its session runs a statement
 * elsewhere, and idle while Citus keeps it cached for the next statement:
 * what leaks is the session, which the limits of the node it runs on end,
 * and Citus then closes its connections.  So by default no limit and no
 * quota applies to them: neither the leakguard.* defaults nor a rule whose
 * pattern is '*' alone; only a rule whose pattern names them in some other
 * way ("citus_internal*", "citus_*", "c*") does, with its qualifiers
 * (limits.c, lg_rules_match_named()).
 *
 * Each session has its own gpid: one statistics row per name would fill
 * leakguard.max_applications within minutes.  They are counted in one row
 * per kind and origin node instead, "citus_internal node=2" (node
 * 99999999 is the maintenance daemon's), while leakguard.sessions and the
 * history keep the full name.  A name whose gpid cannot be read is counted
 * as "citus_internal node=?".
 *
 * All this holds only where Citus is loaded, which it can only be through
 * shared_preload_libraries (it refuses any other way): that setting is
 * read once, in _PG_init, with the server's own parser of the list, in
 * whatever order the two libraries are listed (Citus's own settings are
 * not defined yet while leakguard's _PG_init runs before its).  Elsewhere
 * these names are ordinary application names, so a server without Citus
 * behaves as before.
 *
 * Shared state: none.  lg_citus_loaded is set in the postmaster (and, with
 * EXEC_BACKEND, again in each backend) before any backend reads it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"

#include "miscadmin.h"
#include "utils/varlena.h"

bool		lg_citus_loaded = false;

/* The name prefixes Citus gives its internal connections. */
static const char *const lg_citus_prefixes[] = {
	NULL,						/* LG_CITUS_NONE */
	"citus_internal gpid=",
	"citus_rebalancer gpid=",
	"citus_run_command gpid="
};

/* A global pid is its node id * 10^10 + the process id (Citus's gpid). */
#define LG_CITUS_GPID_NODE_DIVISOR	UINT64CONST(10000000000)

/*
 * Whether "citus" is one of shared_preload_libraries, as the postmaster
 * loads them (load_libraries(): a list of file names, possibly with a
 * directory or the shared library suffix).
 */
void
lg_citus_detect(void)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;

	lg_citus_loaded = false;
	if (shared_preload_libraries_string == NULL)
		return;
	raw = pstrdup(shared_preload_libraries_string);
	if (!SplitDirectoriesString(raw, ',', &names))
	{
		/* the postmaster itself fails to start on such a value */
		pfree(raw);
		return;
	}
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		const char *base = strrchr(name, '/');
		size_t		len;

		base = base ? base + 1 : name;
		len = strlen(base);
		if (len > strlen(DLSUFFIX) &&
			strcmp(base + len - strlen(DLSUFFIX), DLSUFFIX) == 0)
			len -= strlen(DLSUFFIX);
		if (len == strlen("citus") && strncmp(base, "citus", len) == 0)
			lg_citus_loaded = true;
	}
	list_free_deep(names);
	pfree(raw);
}

/* The kind of Citus internal connection a name is, or LG_CITUS_NONE. */
LeakguardCitusKind
lg_citus_kind(const char *appname)
{
	if (!lg_citus_loaded || appname == NULL || strncmp(appname, "citus_", 6) != 0)
		return LG_CITUS_NONE;
	for (int k = LG_CITUS_NONE + 1; k <= LG_CITUS_LAST; k++)
		if (strncmp(appname, lg_citus_prefixes[k],
					strlen(lg_citus_prefixes[k])) == 0)
			return (LeakguardCitusKind) k;
	return LG_CITUS_NONE;
}

/*
 * Whether a statistics row is the row of a kind of Citus internal
 * connection (lg_citus_stats_name()), where Citus is loaded.
 */
bool
lg_citus_stats_row(const char *name)
{
	if (!lg_citus_loaded)
		return false;
	for (int k = LG_CITUS_NONE + 1; k <= LG_CITUS_LAST; k++)
	{
		size_t		len = strlen(lg_citus_prefixes[k]) - strlen("gpid=");

		if (strncmp(name, lg_citus_prefixes[k], len) == 0 &&
			strncmp(name + len, "node=", strlen("node=")) == 0)
			return true;
	}
	return false;
}

/*
 * The name of the statistics row of a session of application appname:
 * appname itself, or for a Citus internal connection its kind and origin
 * node, written into buf (NAMEDATALEN bytes).
 */
const char *
lg_citus_stats_name(const char *appname, char *buf)
{
	LeakguardCitusKind kind = lg_citus_kind(appname);
	const char *prefix;
	const char *digits;
	uint64		gpid = 0;
	int			n = 0;

	if (kind == LG_CITUS_NONE)
		return appname;
	prefix = lg_citus_prefixes[kind];
	for (digits = appname + strlen(prefix); *digits >= '0' && *digits <= '9'; digits++)
	{
		/* 19 digits cannot overflow; Citus's gpids have at most 18 */
		if (++n > 19)
			break;
		gpid = gpid * 10 + (uint64) (*digits - '0');
	}
	/* "citus_internal gpid=" -> "citus_internal node=" */
	if (n == 0 || n > 19 || *digits != '\0')
		snprintf(buf, NAMEDATALEN, "%.*snode=?",
				 (int) (strlen(prefix) - strlen("gpid=")), prefix);
	else
		snprintf(buf, NAMEDATALEN, "%.*snode=" UINT64_FORMAT,
				 (int) (strlen(prefix) - strlen("gpid=")), prefix,
				 gpid / LG_CITUS_GPID_NODE_DIVISOR);
	return buf;
}
