/*-------------------------------------------------------------------------
 *
 * quotacount.c
 *		How many connections each quota rule admitted: shared counts per
 *		key, so that admitting a connection costs the same whatever
 *		max_connections is.
 *
 * A quota rule counts an application's connections as a whole
 * ("billing-api=20"), or per role and database names that its qualifiers
 * name ("billing-api user billing_rw = 20" counts the connections of
 * billing-api made by roles called billing_rw): a quota holds per distinct
 * combination of the application name and the qualifiers its rule names.
 * A connection is judged by the first rule that matches it, and counted
 * under that rule alone: its key is the rule (its index in the rule set),
 * the application name, and the role and database names the rule names.
 * So "web2 user app2 = 20, web2 = 1" counts app2's web2 connections
 * toward the 20, and every other role's toward the 1, and neither count
 * holds a connection the other rule admitted.  A connection that no quota
 * applies to is charged (its slot says who it is) but not counted.
 *
 * Rule indexes mean something only with the rule set they index: the
 * counts are keyed by the set whose identity is
 * LeakguardShared->quota_rules_id, and when a backend judges by another
 * set (a reload changed the rules), quota.c first counts every charged
 * connection again under the new set (lg_quota_uncount_all(), then
 * lg_quota_count_slot() per slot), so that a quota added or changed by a
 * reload counts the connections already there.  Admission reads one count;
 * charging or releasing a connection updates one.
 *
 * The counts live in a shared hash table with room for one key per backend
 * slot, so it never fills.  LeakguardQuotaSlot[], one per backend slot,
 * records what that backend is charged and counted under, so that its
 * charge is released exactly.
 *
 * Locking: every function here but lg_quota_key() expects
 * LeakguardShared->quota_lock held by the caller, exclusive (or at least
 * shared for lg_quota_held()).  None takes another lock, allocates or
 * raises an error: quota.c calls them from callbacks that run after a
 * transaction committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "quota.h"
#include "sessionlimits.h"
#include "shmem.h"

#include "storage/shmem.h"
#include "utils/hsearch.h"

/* One count of the table; the key must be first. */
typedef struct LeakguardQuotaCount
{
	LeakguardQuotaKey key;
	int			count;			/* connections counted under key; > 0 */
} LeakguardQuotaCount;

static HTAB *lg_quota_counts = NULL;

static long
lg_quota_count_entries(void)
{
	return (long) MaxBackends;
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
 * The key of a connection of appname by usename to datname, admitted by
 * the rule "quota" describes.  Names are cut to NAMEDATALEN - 1 bytes and
 * the rest zeroed: the key is hashed and compared as bytes.
 */
void
lg_quota_key(LeakguardQuotaKey *key, const LeakguardLimit *quota,
			 const char *appname, const char *usename, const char *datname)
{
	memset(key, 0, sizeof(*key));
	key->rule = quota->rule_index;
	key->parts = quota->qualifiers;
	strlcpy(key->appname, appname, NAMEDATALEN);
	if (quota->qualifiers & LG_QUOTA_BY_USER)
		strlcpy(key->usename, usename, NAMEDATALEN);
	if (quota->qualifiers & LG_QUOTA_BY_DATABASE)
		strlcpy(key->datname, datname, NAMEDATALEN);
}

/* How many connections key counts. */
int
lg_quota_held(const LeakguardQuotaKey *key)
{
	LeakguardQuotaCount *c = hash_search(lg_quota_counts, key, HASH_FIND, NULL);

	return c == NULL ? 0 : c->count;
}

/*
 * Count backend slot "slot", which is charged and not counted, under the
 * rule "quota" describes, if that rule sets a quota.  Returns false if the
 * table is full (room for one key per backend slot: cannot happen), and
 * the slot then stays charged but not counted.  Raises no error and
 * allocates nothing (the table's entries are all allocated at start): it
 * runs after a transaction ended too (quota.c), where an error would be a
 * PANIC; a caller that may raise one does so itself.
 */
bool
lg_quota_count_slot(int slot, const LeakguardLimit *quota)
{
	LeakguardQuotaSlot *qs = &lg_shared->quota[slot];
	LeakguardQuotaCount *c;
	bool		found;

	Assert(qs->charged && !qs->counted);
	if (quota->rule_index < 0 || quota->value <= 0)
		return true;
	lg_quota_key(&qs->key, quota, qs->appname, qs->usename, qs->datname);
	c = hash_search(lg_quota_counts, &qs->key, HASH_ENTER_NULL, &found);
	if (c == NULL)
		return false;
	c->count = found ? c->count + 1 : 1;
	qs->counted = true;
	return true;
}

/* Take backend slot "slot" out of the count it is in, if any. */
static void
lg_quota_uncount(int slot)
{
	LeakguardQuotaSlot *qs = &lg_shared->quota[slot];
	LeakguardQuotaCount *c;

	if (!qs->counted)
		return;
	c = hash_search(lg_quota_counts, &qs->key, HASH_FIND, NULL);
	Assert(c != NULL && c->count > 0);
	if (c != NULL && --c->count <= 0)
		(void) hash_search(lg_quota_counts, &qs->key, HASH_REMOVE, NULL);
	qs->counted = false;
}

/*
 * Charge backend slot "slot" to appname, usename and datname, admitted by
 * the rule "quota" describes (counted under it if it sets a quota).
 * Returns false if it could not be counted (lg_quota_count_slot()).
 */
bool
lg_quota_charge(int slot, const char *appname, const char *usename,
				const char *datname, const LeakguardLimit *quota)
{
	LeakguardQuotaSlot *qs = &lg_shared->quota[slot];

	Assert(!qs->charged);
	qs->charged = true;
	qs->counted = false;
	strlcpy(qs->appname, appname, NAMEDATALEN);
	strlcpy(qs->usename, usename, NAMEDATALEN);
	strlcpy(qs->datname, datname, NAMEDATALEN);
	return lg_quota_count_slot(slot, quota);
}

/* Release the charge of backend slot "slot", if any. */
void
lg_quota_uncharge(int slot)
{
	lg_quota_uncount(slot);
	lg_shared->quota[slot].charged = false;
}

/*
 * Take every slot out of the counts, which are then empty; the slots stay
 * charged.  The caller counts them again under another rule set.
 */
void
lg_quota_uncount_all(void)
{
	for (int i = 0; i < MaxBackends; i++)
		lg_quota_uncount(i);
	Assert(hash_get_num_entries(lg_quota_counts) == 0);
}
