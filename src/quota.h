/*-------------------------------------------------------------------------
 *
 * quota.h
 *		Connection quotas: the shared counts per quota rule (quotacount.c)
 *		and the admission hook (quota.c).
 *
 * Shared state: LeakguardQuotaSlot and the counts under LeakguardShared->quota_lock (shmem.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_QUOTA_H
#define LEAKGUARD_QUOTA_H

#include "sessionlimits.h"

/*
 * A key of the shared quota counts (quotacount.c): the quota rule that
 * admitted a connection (its index in the rule set whose identity is
 * LeakguardShared->quota_rules_id), the application name, and the role and
 * database names when that rule names them.  Compared and hashed as bytes:
 * unused bytes are zero.
 */
typedef struct LeakguardQuotaKey
{
	int			rule;			/* index of the admitting rule */
	int			parts;			/* LG_QUOTA_BY_* */
	char		appname[NAMEDATALEN];
	char		usename[NAMEDATALEN];	/* "" unless LG_QUOTA_BY_USER */
	char		datname[NAMEDATALEN];	/* "" unless LG_QUOTA_BY_DATABASE */
} LeakguardQuotaKey;

/*
 * Who holds a connection of which application, per backend slot: charged
 * at authentication under the application_name of the startup packet and
 * the login role's and database's names, charged again under a new
 * application_name when the session changes it, released at exit; and the
 * key it is counted under, if a quota rule admitted it.  Protected by
 * LeakguardShared->quota_lock.
 */
typedef struct LeakguardQuotaSlot
{
	bool		charged;
	bool		counted;		/* counted under key */
	char		appname[NAMEDATALEN];
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	LeakguardQuotaKey key;
} LeakguardQuotaSlot;

/* quotacount.c */
extern Size lg_quota_count_size(void);
extern void lg_quota_count_init(void);
extern void lg_quota_key(LeakguardQuotaKey *key, const LeakguardLimit *quota,
						 const char *appname, const char *usename,
						 const char *datname);
extern int	lg_quota_held(const LeakguardQuotaKey *key);
extern bool lg_quota_charge(int slot, const char *appname, const char *usename,
							const char *datname, const LeakguardLimit *quota);
extern void lg_quota_uncharge(int slot);
extern void lg_quota_uncount_all(void);
extern bool lg_quota_count_slot(int slot, const LeakguardLimit *quota);

/* quota.c */
extern void lg_install_quota_hook(void);

#endif							/* LEAKGUARD_QUOTA_H */
