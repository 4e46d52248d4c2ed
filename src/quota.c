/*-------------------------------------------------------------------------
 *
 * quota.c
 *		Connection quotas per application: counted at authentication.
 *
 * leakguard.application_connection_limits gives an application_name the
 * most client connections it may hold.  Every client backend, when it has
 * been authenticated (ClientAuthentication_hook), is charged to the
 * application_name of its startup packet in its own slot of a shared
 * array, and released when it exits.  Counting and charging happen under
 * one exclusive lock, so N clients racing for the last free places of a
 * quota can never leave more than the quota connected: a backend still
 * starting up is counted as soon as it is charged, which a scan of the
 * backend status array would miss.  A connection beyond its quota is
 * refused with FATAL 53300 before it runs any statement; in dry_run it is
 * admitted (and charged) and only logged and counted.
 *
 * Every connection is charged, whether a quota applies or not, so that a
 * quota added by a reload counts the connections already there.  A session
 * that changes its application_name later stays charged to the name it
 * connected with: that is the name the quota judged.
 *
 * Sessions of superusers and of leakguard.exempt_roles are outside the
 * quotas: never refused, and not counted; so are replication connections
 * (walsenders).
 *
 * Catalog access: the hook runs inside InitPostgres() before a database is
 * selected, and possibly before the shared relcache entries of the shared
 * catalogs' indexes exist (the backend started without
 * global/pg_internal.init, which is removed at every server start).  It
 * therefore reads only what core's own startup reads at that point, the
 * way core reads it: pg_authid through the syscache, as the password check
 * before the hook and InitializeSessionUserId() after it do (catcache reads
 * pg_authid's heap until criticalSharedRelcachesBuilt, checked in 15 and
 * 18), and, for a refusal only, pg_database as GetDatabaseTuple() in
 * postinit.c does next.  Nothing here resolves a name through a function
 * that opens a catalog index unconditionally (get_database_oid() does).
 *
 * Shared state: LeakguardShared->quota and the LeakguardQuotaSlot array
 * under LeakguardShared->quota_lock; statistics and history under
 * LeakguardShared->lock, taken after quota_lock is released.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_database.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;

/* This backend's slot is charged. */
static bool lg_charged = false;

/*
 * The mode a backend applies quotas in: as the worker does, report only
 * while the settings the server started with are invalid.
 */
int
lg_backend_mode(void)
{
	if (lg_mode == LG_MODE_ENFORCE && lg_shared != NULL && lg_shared->config_unsafe)
		return LG_MODE_DRY_RUN;
	return lg_mode;
}

static void
lg_quota_release(int code, Datum arg)
{
	int			slot = LG_MY_STATUS_SLOT();

	if (!lg_charged)
		return;
	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	lg_shared->quota[slot].charged = false;
	LWLockRelease(lg_shared->quota_lock);
	lg_charged = false;
}

/*
 * The OID of a database by name, InvalidOid if there is none, read as
 * GetDatabaseTuple() in postinit.c reads it at the same stage of backend
 * startup: through pg_database's name index only once the shared relcache
 * entries are built, else by a heap scan of pg_database (whose descriptor
 * relcache.c hard-wires).  get_database_oid() would open the index in any
 * case, which without global/pg_internal.init needs pg_class, and fails
 * with "cannot read pg_class without having selected a database".
 */
static Oid
lg_database_oid(const char *dbname)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	Oid			dbid = InvalidOid;

	ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(dbname));
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, DatabaseNameIndexId,
							  criticalSharedRelcachesBuilt, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		dbid = ((Form_pg_database) GETSTRUCT(tuple))->oid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return dbid;
}

/*
 * Record a refusal (or a dry-run one) in statistics and history.  roleid is
 * the connecting role's (InvalidOid if it has none).
 */
static void
lg_quota_record(Port *port, Oid roleid, const char *appname,
				const LeakguardLimit *quota, int action)
{
	LeakguardEvent *ev = palloc0(sizeof(LeakguardEvent));
	LeakguardAppStats *entry;

	ev->at = GetCurrentTimestamp();
	ev->pid = MyProcPid;
	ev->action = action;
	ev->kind = LG_KIND_QUOTA;
	ev->datid = lg_database_oid(port->database_name);
	ev->userid = roleid;
	ev->backend_start = MyStartTimestamp;
	memcpy(&ev->client_addr, &port->raddr, sizeof(SockAddr));
	strlcpy(ev->appname, appname, NAMEDATALEN);
	memcpy(ev->rule, quota->rule, LG_RULE_TEXT_LEN);

	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	entry = lg_stats_entry(appname, ev->at);
	if (action == LG_ACTION_REFUSED)
		entry->refused++;
	else
		entry->refused_dry_run++;
	lg_history_add(ev);
	LWLockRelease(lg_shared->lock);
	pfree(ev);
}

/*
 * Charge this connection to its application, or refuse it.  Runs in the new
 * backend, inside the transaction InitPostgres() opened for authentication.
 */
static void
lg_quota_admit(Port *port)
{
	char	   *appname = palloc(LG_CLEAN_GROWTH * strlen(port->application_name ?
														 port->application_name : "") + 1);
	LeakguardLimit quota;
	int			slot = LG_MY_STATUS_SLOT();
	int			mode = lg_backend_mode();
	int			held = 0;
	bool		over = false;
	Oid			roleid;
	int			i;

	/* The name as the server will store it (see rules.h). */
	if (lg_clean_name(appname, port->application_name ? port->application_name : "",
					  LG_NAME_STYLE) >= NAMEDATALEN)
		appname[NAMEDATALEN - 1] = '\0';

	/*
	 * Exempt sessions are outside the quotas: neither refused nor counted.
	 * get_role_oid() and superuser_arg() read pg_authid through the
	 * syscache, which is safe here (see the header comment).
	 */
	roleid = get_role_oid(port->user_name, true);
	if (lg_role_name_exempt(port->user_name) ||
		(OidIsValid(roleid) && superuser_arg(roleid)))
		return;

	lg_connection_limit_for(appname, &quota);

	/* Registered before the charge, so that a charge is always released. */
	before_shmem_exit(lg_quota_release, (Datum) 0);

	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	if (quota.timeout_ms > 0 && mode != LG_MODE_OFF)
	{
		for (i = 0; i < MaxBackends; i++)
			if (lg_shared->quota[i].charged &&
				strcmp(lg_shared->quota[i].appname, appname) == 0)
				held++;
		over = (held >= quota.timeout_ms);
	}
	if (!over || mode == LG_MODE_DRY_RUN)
	{
		lg_shared->quota[slot].charged = true;
		strlcpy(lg_shared->quota[slot].appname, appname, NAMEDATALEN);
		lg_charged = true;
	}
	LWLockRelease(lg_shared->quota_lock);

	if (!over)
		return;

	if (mode == LG_MODE_DRY_RUN)
	{
		lg_quota_record(port, roleid, appname, &quota, LG_ACTION_DRY_RUN);
		ereport(LOG,
				(errmsg("leakguard (dry run) would have refused a connection of application \"%s\" (user \"%s\", database \"%s\"): it holds %d connections, its quota is " INT64_FORMAT " (rule \"%s\")",
						appname, port->user_name, port->database_name,
						held, quota.timeout_ms, quota.rule)));
		return;
	}

	lg_quota_record(port, roleid, appname, &quota, LG_ACTION_REFUSED);
	ereport(FATAL,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("too many connections for application \"%s\"", appname),
			 errdetail("leakguard allows application \"%s\" at most " INT64_FORMAT " connections (rule \"%s\"), and it holds %d.",
					   appname, quota.timeout_ms, quota.rule, held)));
}

static void
lg_client_auth_hook(Port *port, int status)
{
	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);

	if (status != STATUS_OK || lg_shared == NULL || am_walsender)
		return;
	lg_quota_admit(port);
}

void
lg_install_quota_hook(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = lg_client_auth_hook;
}
