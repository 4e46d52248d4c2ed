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
 * invalidation with the hash value of its OID.  The worker processes
 * invalidations whenever it starts a transaction, and lg_names_refresh()
 * starts an empty one about once a second while any rule is qualified (the
 * worker scans at least that often then).  The callback forgets only the
 * entries whose hash value matches (all of them for a cache reset) and
 * bumps lg_names_generation only when it forgot one, so that the worker
 * works out every limit again; the many invalidations of roles and
 * databases it never looked up (VACUUM's updates of pg_database among them)
 * cost nothing.  A rename is thus seen within about a second.
 *
 * Only the worker uses this; backends resolve names through the syscache
 * as they always do.  Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "leakguard.h"
#include "names.h"
#include "sessionlimits.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

typedef struct LgNameEntry
{
	Oid			oid;			/* hash key */
	uint32		hashvalue;		/* of oid in its syscache, for invalidation */
	bool		stale;			/* invalidated: look it up again */
	bool		exists;			/* false: no such role or database */
	char		name[NAMEDATALEN];
} LgNameEntry;

static HTAB *lg_role_names = NULL;
static HTAB *lg_database_names = NULL;
static int64 lg_names_refreshed_us = 0;

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
 * A role or database changed (hashvalue 0: any of them).  Called while
 * invalidations are processed, so only mark entries: a stale one is looked
 * up again at its next use.
 */
static void
lg_names_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	HTAB	   *names = (cacheid == AUTHOID) ? lg_role_names : lg_database_names;
	HASH_SEQ_STATUS seq;
	LgNameEntry *e;
	bool		any = false;

	hash_seq_init(&seq, names);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (hashvalue == 0 || e->hashvalue == hashvalue)
		{
			e->stale = true;
			any = true;
		}
	}
	if (any)
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

	e = hash_search(names, &oid, HASH_FIND, NULL);
	if (e == NULL || e->stale)
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
		e->hashvalue = GetSysCacheHashValue1(role ? AUTHOID : DATABASEOID,
											 ObjectIdGetDatum(oid));
		e->stale = false;
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
 * While any rule is qualified, process invalidations about every
 * LG_NAMES_REFRESH_MS (now_us: the monotonic clock), by starting and ending
 * an empty transaction.
 */
void
lg_names_refresh(int64 now_us)
{
	MemoryContext context;

	if (!lg_rules_qualified() || IsTransactionState() ||
		now_us - lg_names_refreshed_us < LG_NAMES_REFRESH_MS * INT64CONST(1000))
		return;
	context = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context);
	lg_names_refreshed_us = now_us;
}
