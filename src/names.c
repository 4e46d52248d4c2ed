/*-------------------------------------------------------------------------
 *
 * names.c
 *		The worker's cache of role and database names, by OID.
 *
 * Rules qualified by role or database ("billing-api user billing_rw = 20")
 * are matched against names, while the backend status array holds OIDs.
 * The worker looks each OID up once, in pg_authid or pg_database (shared
 * catalogs, which it reads connected to no database), and keeps the answer
 * in a local hash table, so a scan does no catalog access for the sessions
 * it already knows, and none at all while no rule is qualified.
 *
 * A role or database that is renamed or dropped sends a syscache
 * invalidation.  The worker processes invalidations whenever it starts a
 * transaction, and lg_names_refresh() starts an empty one at least once a
 * second while any rule is qualified; the callback then forgets the whole
 * cache and bumps lg_names_generation, so that the worker works out every
 * limit again.  A rename is thus seen within about a second.
 *
 * Only the worker uses this; backends resolve names through the syscache
 * as they always do.  Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/* How often invalidations are looked for while rules are qualified. */
#define LG_NAMES_REFRESH_MS		1000

typedef struct LgNameEntry
{
	Oid			oid;			/* hash key */
	bool		exists;			/* false: no such role or database */
	char		name[NAMEDATALEN];
} LgNameEntry;

static HTAB *lg_role_names = NULL;
static HTAB *lg_database_names = NULL;
static bool lg_names_stale = false;
static TimestampTz lg_names_refreshed = 0;

/* Bumped whenever a cached name may have changed. */
uint64		lg_names_generation = 1;

static HTAB *
lg_names_create(const char *what)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LgNameEntry);
	ctl.hcxt = TopMemoryContext;
	return hash_create(what, 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * A role or database changed.  Called while invalidations are processed,
 * so only take note: the cache is emptied at the next look-up.
 */
static void
lg_names_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	lg_names_stale = true;
	lg_names_generation++;
}

void
lg_names_init(void)
{
	lg_role_names = lg_names_create("leakguard role names");
	lg_database_names = lg_names_create("leakguard database names");
	CacheRegisterSyscacheCallback(AUTHOID, lg_names_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(DATABASEOID, lg_names_invalidate, (Datum) 0);
}

static void
lg_names_clear(HTAB *names)
{
	HASH_SEQ_STATUS seq;
	LgNameEntry *e;

	hash_seq_init(&seq, names);
	while ((e = hash_seq_search(&seq)) != NULL)
		(void) hash_search(names, &e->oid, HASH_REMOVE, NULL);
}

/*
 * Copy the name of a role or database into dst (NAMEDATALEN bytes) and
 * return dst; NULL if there is none.  A miss reads the catalog, in a
 * transaction of its own unless one is open.
 */
static const char *
lg_name_lookup(HTAB *names, Oid oid, bool role, char *dst)
{
	LgNameEntry *e;

	if (!OidIsValid(oid))
		return NULL;
	if (lg_names_stale)
	{
		lg_names_clear(lg_role_names);
		lg_names_clear(lg_database_names);
		lg_names_stale = false;
	}

	e = hash_search(names, &oid, HASH_FIND, NULL);
	if (e == NULL)
	{
		MemoryContext context = CurrentMemoryContext;
		bool		own = !IsTransactionState();
		char	   *name;

		if (own)
		{
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
		}
		name = role ? GetUserNameFromId(oid, true) : get_database_name(oid);
		e = hash_search(names, &oid, HASH_ENTER, NULL);
		e->exists = (name != NULL);
		if (name != NULL)
			strlcpy(e->name, name, NAMEDATALEN);
		if (own)
			CommitTransactionCommand();
		MemoryContextSwitchTo(context);
	}
	if (!e->exists)
		return NULL;
	memcpy(dst, e->name, NAMEDATALEN);
	return dst;
}

const char *
lg_role_name(Oid roleid, char *dst)
{
	return lg_name_lookup(lg_role_names, roleid, true, dst);
}

const char *
lg_database_name(Oid dbid, char *dst)
{
	return lg_name_lookup(lg_database_names, dbid, false, dst);
}

/*
 * While any rule is qualified, process invalidations at least once every
 * LG_NAMES_REFRESH_MS, by starting and ending an empty transaction.
 */
void
lg_names_refresh(TimestampTz now)
{
	MemoryContext context;

	if (!lg_rules_qualified() || IsTransactionState() ||
		!TimestampDifferenceExceeds(lg_names_refreshed, now, LG_NAMES_REFRESH_MS))
		return;
	context = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
	lg_names_refreshed = now;
}
