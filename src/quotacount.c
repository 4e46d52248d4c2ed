/*-------------------------------------------------------------------------
 *
 * quotacount.c
 *		How many connections each application holds: shared counts per
 *		key, so that admitting a connection costs the same whatever
 *		max_connections is.
 *
 * A quota rule counts an application's connections as a whole
 * ("billing-api=20"), or per role and database names that its qualifiers
 * name ("billing-api user billing_rw = 20" counts the connections of
 * billing-api made by roles called billing_rw): a quota holds per distinct
 * combination of the application name and the qualifiers its rule names.
 * Rules change at a reload while connections stay, so every charged
 * connection is counted under each of the four keys it may be judged by,
 * (application), (application, role), (application, database) and
 * (application, role, database).  Admission reads one count; charging or
 * releasing a connection updates four.
 *
 * The counts live in a shared hash table with room for four keys per
 * backend slot, so it never fills.  LeakguardQuotaSlot[], one per backend
 * slot, records what that backend is charged under, so that its charge is
 * released exactly.
 *
 * Locking: lg_quota_held(), lg_quota_charge() and lg_quota_uncharge()
 * expect LeakguardShared->quota_lock held by the caller (exclusive, or at
 * least shared for lg_quota_held()); the others touch no shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "storage/shmem.h"
#include "utils/hsearch.h"

/* One count of the table; the key must be first. */
typedef struct LeakguardQuotaCount
{
	LeakguardQuotaKey key;
	int			count;			/* charged connections under key; > 0 */
} LeakguardQuotaCount;

static HTAB *lg_quota_counts = NULL;

static void lg_quota_uncharge_parts(int slot, int nparts);

/* Every combination of qualifiers a rule can name. */
#define LG_QUOTA_KEY_KINDS		4

static long
lg_quota_count_entries(void)
{
	return (long) MaxBackends * LG_QUOTA_KEY_KINDS;
}

Size
lg_quota_count_size(void)
{
	return hash_estimate_size(lg_quota_count_entries(),
							  sizeof(LeakguardQuotaCount));
}

/* Called from shmem_startup_hook, with AddinShmemInitLock held. */
void
lg_quota_count_init(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(LeakguardQuotaKey);
	info.entrysize = sizeof(LeakguardQuotaCount);
	lg_quota_counts = ShmemInitHash("leakguard quota counts",
									lg_quota_count_entries(),
									lg_quota_count_entries(),
									&info,
									HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
}

/*
 * The key of a connection of appname by usename to datname, for a rule
 * that names "parts" (LG_QUOTA_BY_USER, LG_QUOTA_BY_DATABASE).  Names are
 * cut to NAMEDATALEN - 1 bytes and the rest zeroed: the key is hashed and
 * compared as bytes.
 */
void
lg_quota_key(LeakguardQuotaKey *key, const char *appname, const char *usename,
			 const char *datname, int parts)
{
	memset(key, 0, sizeof(*key));
	strlcpy(key->appname, appname, NAMEDATALEN);
	if (parts & LG_QUOTA_BY_USER)
		strlcpy(key->usename, usename, NAMEDATALEN);
	if (parts & LG_QUOTA_BY_DATABASE)
		strlcpy(key->datname, datname, NAMEDATALEN);
	key->parts = parts;
}

/* How many charged connections key counts. */
int
lg_quota_held(const LeakguardQuotaKey *key)
{
	LeakguardQuotaCount *c = hash_search(lg_quota_counts, key, HASH_FIND, NULL);

	return c == NULL ? 0 : c->count;
}

/* Charge backend slot "slot" to appname, usename and datname. */
void
lg_quota_charge(int slot, const char *appname, const char *usename,
				const char *datname)
{
	LeakguardQuotaSlot *qs = &lg_shared->quota[slot];
	int			parts;

	Assert(!qs->charged);
	for (parts = 0; parts < LG_QUOTA_KEY_KINDS; parts++)
	{
		LeakguardQuotaKey key;
		LeakguardQuotaCount *c;
		bool		found;

		lg_quota_key(&key, appname, usename, datname, parts);
		c = hash_search(lg_quota_counts, &key, HASH_ENTER_NULL, &found);
		if (c == NULL)
		{
			/* Room for four keys per backend slot: cannot happen. */
			qs->charged = true;
			strlcpy(qs->appname, appname, NAMEDATALEN);
			strlcpy(qs->usename, usename, NAMEDATALEN);
			strlcpy(qs->datname, datname, NAMEDATALEN);
			lg_quota_uncharge_parts(slot, parts);
			elog(ERROR, "leakguard quota counts are full");
		}
		c->count = found ? c->count + 1 : 1;
	}
	qs->charged = true;
	strlcpy(qs->appname, appname, NAMEDATALEN);
	strlcpy(qs->usename, usename, NAMEDATALEN);
	strlcpy(qs->datname, datname, NAMEDATALEN);
}

/* Release the first nparts keys of the charge of backend slot "slot". */
static void
lg_quota_uncharge_parts(int slot, int nparts)
{
	LeakguardQuotaSlot *qs = &lg_shared->quota[slot];
	int			parts;

	for (parts = 0; parts < nparts; parts++)
	{
		LeakguardQuotaKey key;
		LeakguardQuotaCount *c;

		lg_quota_key(&key, qs->appname, qs->usename, qs->datname, parts);
		c = hash_search(lg_quota_counts, &key, HASH_FIND, NULL);
		Assert(c != NULL && c->count > 0);
		if (c != NULL && --c->count <= 0)
			(void) hash_search(lg_quota_counts, &key, HASH_REMOVE, NULL);
	}
	qs->charged = false;
}

/* Release the charge of backend slot "slot", if any. */
void
lg_quota_uncharge(int slot)
{
	if (lg_shared->quota[slot].charged)
		lg_quota_uncharge_parts(slot, LG_QUOTA_KEY_KINDS);
}
