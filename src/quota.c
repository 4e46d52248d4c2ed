/*-------------------------------------------------------------------------
 *
 * quota.c
 *		Connection quotas per application: counted at authentication.
 *
 * leakguard.application_connection_limits gives an application_name the
 * most client connections it may hold, optionally per login role and
 * database ("billing-api user billing_rw = 20").  Every client backend,
 * when it has been authenticated (ClientAuthentication_hook), is charged to
 * the application_name of its startup packet, its login role and its
 * database (quotacount.c keeps the counts), and released when it exits.
 * Counting and charging happen under one exclusive lock, so N clients
 * racing for the last free places of a quota can never leave more than the
 * quota connected: a backend still starting up is counted as soon as it is
 * charged, which a scan of the backend status array would miss.  A
 * connection beyond its quota is refused with FATAL 53300 before it runs
 * any statement; in dry_run it is admitted (and charged) and only logged
 * and counted.
 *
 * Quotas judge the name a session really uses.  Many drivers log in without
 * an application_name and set it with SET right after (pgjdbc), and
 * "options=-c application_name=..." is applied after authentication; so
 * before every statement and after it (ProcessUtility_hook around a
 * utility statement such as SET, ExecutorStart_hook and ExecutorEnd_hook
 * around any other, which may call set_config()), and before a
 * transaction commits or prepares (a fast-path function call reaches no
 * executor), the backend compares application_name with the name it is
 * charged under, a string compare when nothing changed.  When it changed,
 * the backend is released and charged again under the new name, under the
 * same lock and by the same rule as a new connection: a rename into a full
 * quota ends the session with FATAL 53300 (in dry_run: logged and
 * counted, and the session goes on), so renaming is no way around a quota.
 * When a transaction ends, PostgreSQL reverts the names it gave for the
 * transaction only (SET LOCAL, set_config(..., true)) or that it rolled
 * back, after the transaction callbacks ran: the backend then compares once
 * more, once the transaction's memory is released (lg_quota_settle()), and
 * moves its charge back to the name it returned to without judging it (it
 * held that name before), so that no session stays counted under a name it
 * no longer has.  A subtransaction rolled back (ROLLBACK TO SAVEPOINT, an
 * exception caught in PL/pgSQL) is settled the same way when it is cleaned
 * up, if the name it leaves is the one charged when it began
 * (lg_quota_settle_sub()); any other is judged at the next check.  Both
 * run after the transaction ended, lg_quota_settle() after its commit
 * record was written, where an error would be a PANIC: they count by the
 * policy this backend applied last (lg_backend_mode_applied(), never
 * refreshed there), take no lock but quota_lock, allocate nothing and
 * raise no error.
 *
 * A connection is counted toward the quota rule that admitted it, the
 * first that matches it (quotacount.c): "web2 user app2 = 20, web2 = 1"
 * holds every other role's web2 connections to 1 whatever app2 holds.
 * Counts are keyed by rule index; a backend that judges by rules other
 * than those the counts are keyed by (a reload) first counts every charged
 * connection again under its rules (lg_quota_rekey()).
 *
 * Every connection is charged, whether a quota applies or not, so that a
 * quota added by a reload counts the connections already there.  Quotas
 * and the mode are the policy in force, the one the worker published
 * (lg_backend_mode() brings it up to date; settings.c), never what
 * PostgreSQL applied in this backend.
 *
 * Sessions of superusers and of leakguard.exempt_roles are outside the
 * quotas: never refused, and not counted; so are replication connections
 * (walsenders).  Citus's internal connections are counted, but no quota
 * applies to them unless a rule names them (citus.c); a session that
 * renames itself from such a name is judged by its new name as any other.
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
 * Shared state: the LeakguardQuotaSlot array and the quota counts under
 * LeakguardShared->quota_lock; statistics and history under
 * LeakguardShared->lock, taken after quota_lock is released.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "compat.h"
#include "kinds.h"
#include "leakguard.h"
#include "quota.h"
#include "rules.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "stats.h"

#include "access/genam.h"
#include "access/xact.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_database.h"
#include "executor/executor.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;

/*
 * This backend is charged (lg_shared->quota[its slot]), under
 * lg_charged_appname and its login role's and database's names.
 */
static bool lg_charged = false;
static char lg_charged_appname[NAMEDATALEN];

/* lg_quota_settle(), to run once the transaction has ended. */
static MemoryContextCallback lg_settle_callback;
static bool lg_settle_registered = false;

/*
 * The name this backend was charged under when each open subtransaction
 * began, indexed by nesting level (in TopMemoryContext), and
 * lg_quota_settle_sub(), to run once an aborted one has been cleaned up.
 */
static char (*lg_sub_names)[NAMEDATALEN] = NULL;
static int	lg_sub_names_size = 0;
static MemoryContextCallback lg_settle_sub_callback;
static bool lg_settle_sub_registered = false;
static char lg_settle_sub_name[NAMEDATALEN];

static void
lg_quota_release(int code, Datum arg)
{
	if (!lg_charged)
		return;
	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	lg_quota_uncharge(LG_MY_STATUS_SLOT());
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
 * Record a refusal (or a dry-run one) in statistics and history: of the
 * connection of role roleid to database datid from client_addr.
 */
static void
lg_quota_record(Oid roleid, Oid datid, const SockAddr *client_addr,
				const char *appname, const LeakguardLimit *quota, int action)
{
	LeakguardEvent *ev = palloc0(sizeof(LeakguardEvent));
	LeakguardAppStats *entry;

	ev->at = GetCurrentTimestamp();
	ev->pid = MyProcPid;
	ev->action = action;
	ev->kind = LG_KIND_CONNECTIONS;
	ev->datid = datid;
	ev->userid = roleid;
	ev->backend_start = MyStartTimestamp;
	if (client_addr != NULL)
		memcpy(&ev->client_addr, client_addr, sizeof(SockAddr));
	strlcpy(ev->appname, appname, NAMEDATALEN);
	memcpy(ev->rule, quota->rule, LG_RULE_TEXT_LEN);

	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	entry = lg_stats_entry(appname, roleid, ev->at);
	if (action == LG_ACTION_REFUSED)
		entry->kinds[LG_KIND_CONNECTIONS].acted++;
	else
		entry->kinds[LG_KIND_CONNECTIONS].dry_run++;
	entry->kinds[LG_KIND_CONNECTIONS].last_at = ev->at;
	lg_history_add(ev);
	LWLockRelease(lg_shared->lock);
	lg_stats_full_report();
	pfree(ev);
}

/*
 * Count every charged connection again under this backend's connection
 * rules, if the counts are keyed by other rules (a reload changed them).
 * rules_id is lg_quota_rules_id(), computed before the caller took
 * quota_lock exclusive.  Costs a glob match per rule and charged
 * connection, once per change of the rules.
 */
static void
lg_quota_rekey(uint64 rules_id)
{
	if (lg_shared->quota_rules_id == rules_id)
		return;
	lg_quota_uncount_all();
	for (int i = 0; i < MaxBackends; i++)
	{
		LeakguardQuotaSlot *qs = &lg_shared->quota[i];
		LeakguardWho who;
		LeakguardLimit quota;

		if (!qs->charged)
			continue;
		who.appname = qs->appname;
		who.usename = qs->usename;
		who.datname = qs->datname;
		who.citus_internal = (lg_citus_kind(qs->appname) != LG_CITUS_NONE);
		lg_connection_limit_for(&who, &quota);
		lg_quota_count_slot(i, &quota);
	}
	lg_shared->quota_rules_id = rules_id;
}

/*
 * Charge this backend to appname, as login role usename of database
 * datname, unless the quota of the rule that matches it is full, or
 * whatever that quota holds when "judge" is false.  The caller holds
 * quota_lock exclusive; a charge this backend already has is released
 * first, in the same hold.  Returns whether the quota was full (the
 * backend is then charged in dry_run or when not judged, and not at all
 * otherwise); *held and *quota say what it was judged by.  When not
 * judged (the settle callbacks), nothing here takes another lock,
 * allocates or raises an error.
 */
static bool
lg_quota_judge(const char *appname, const char *usename, const char *datname,
			   uint64 rules_id, int mode, bool judge, LeakguardLimit *quota,
			   int *held)
{
	int			slot = LG_MY_STATUS_SLOT();
	LeakguardWho who;
	bool		over = false;

	lg_quota_rekey(rules_id);
	who.appname = appname;
	who.usename = usename;
	who.datname = datname;
	who.citus_internal = (lg_citus_kind(appname) != LG_CITUS_NONE);
	lg_connection_limit_for(&who, quota);

	lg_quota_uncharge(slot);
	lg_charged = false;
	*held = 0;
	if (quota->value > 0 && mode != LG_MODE_OFF)
	{
		LeakguardQuotaKey key;

		lg_quota_key(&key, quota, appname, usename, datname);
		*held = lg_quota_held(&key);
		over = (*held >= quota->value);
	}
	if (!over || mode == LG_MODE_DRY_RUN || !judge)
	{
		bool		counted;

		counted = lg_quota_charge(slot, appname, usename, datname, quota);
		strlcpy(lg_charged_appname, appname, NAMEDATALEN);
		lg_charged = true;
		/* Room for one key per backend slot: cannot happen. */
		if (!counted && judge)
			elog(ERROR, "leakguard quota counts are full");
	}
	return over;
}

/* "application "x"" or "application "x" of role "r" in database "d"" */
static char *
lg_quota_subject(const char *appname, const char *usename, const char *datname,
				 const LeakguardLimit *quota)
{
	if (quota->qualifiers == (LG_QUOTA_BY_USER | LG_QUOTA_BY_DATABASE))
		return psprintf("application \"%s\" of role \"%s\" in database \"%s\"",
						appname, usename, datname);
	if (quota->qualifiers == LG_QUOTA_BY_USER)
		return psprintf("application \"%s\" of role \"%s\"", appname, usename);
	if (quota->qualifiers == LG_QUOTA_BY_DATABASE)
		return psprintf("application \"%s\" in database \"%s\"", appname, datname);
	return psprintf("application \"%s\"", appname);
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
	int			mode = lg_backend_mode();
	int			held;
	bool		over;
	Oid			roleid;
	uint64		rules_id;
	char	   *subject;

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

	/* Registered before the charge, so that a charge is always released. */
	before_shmem_exit(lg_quota_release, (Datum) 0);

	rules_id = lg_quota_rules_id();
	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	over = lg_quota_judge(appname, port->user_name, port->database_name,
						  rules_id, mode, true, &quota, &held);
	LWLockRelease(lg_shared->quota_lock);

	if (!over)
		return;

	subject = lg_quota_subject(appname, port->user_name, port->database_name,
							   &quota);
	if (mode == LG_MODE_DRY_RUN)
	{
		lg_quota_record(roleid, lg_database_oid(port->database_name),
						&port->raddr, appname, &quota, LG_ACTION_DRY_RUN);
		ereport(LOG,
				(errmsg("leakguard (dry run) would have refused a connection of %s (user \"%s\", database \"%s\"): it holds %d connections, its quota is %lld (rule \"%s\")",
						subject, port->user_name, port->database_name,
						held, (long long) quota.value, quota.rule)));
		return;
	}

	lg_quota_record(roleid, lg_database_oid(port->database_name),
					&port->raddr, appname, &quota, LG_ACTION_REFUSED);
	ereport(FATAL,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("too many connections for application \"%s\"", appname),
			 errdetail("leakguard allows %s at most %lld connections (rule \"%s\"), and it holds %d.",
					   subject, (long long) quota.value, quota.rule, held)));
}

/*
 * Whether the session's application_name, as the statistics and the quota
 * keep it (its first NAMEDATALEN - 1 bytes), is the name it is charged
 * under.  Run around every statement: one compare, no copy.
 */
static inline bool
lg_name_is_charged(void)
{
	return strncmp(application_name ? application_name : "",
				   lg_charged_appname, NAMEDATALEN - 1) == 0;
}

/*
 * Follow a change of application_name: charge the session to the name it
 * now uses, or end it if that name's quota is full.  Called before and
 * after each statement and before a commit; costs a string compare when
 * the name did not change.
 */
static void
lg_quota_follow_name(void)
{
	LeakguardQuotaSlot *qs;
	LeakguardLimit quota;
	char		appname[NAMEDATALEN];
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	char		previous[NAMEDATALEN];
	int			mode;
	int			held;
	bool		over;
	uint64		rules_id;
	char	   *subject;

	if (!lg_charged || lg_name_is_charged())
		return;

	/* application_name is stored cleaned (check_application_name()). */
	strlcpy(appname, application_name ? application_name : "", NAMEDATALEN);

	mode = lg_backend_mode();
	strlcpy(previous, lg_charged_appname, NAMEDATALEN);
	qs = &lg_shared->quota[LG_MY_STATUS_SLOT()];
	rules_id = lg_quota_rules_id();
	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	/* this backend alone changes its own slot: these names stay put */
	strlcpy(usename, qs->usename, NAMEDATALEN);
	strlcpy(datname, qs->datname, NAMEDATALEN);
	over = lg_quota_judge(appname, usename, datname, rules_id, mode, true,
						  &quota, &held);
	LWLockRelease(lg_shared->quota_lock);

	if (!over)
		return;

	subject = lg_quota_subject(appname, usename, datname, &quota);
	if (mode == LG_MODE_DRY_RUN)
	{
		lg_quota_record(GetSessionUserId(), MyDatabaseId,
						MyProcPort ? &MyProcPort->raddr : NULL,
						appname, &quota, LG_ACTION_DRY_RUN);
		ereport(LOG,
				(errmsg("leakguard (dry run) would have ended a session that renamed itself from application \"%s\" to %s (user \"%s\", database \"%s\"): it holds %d connections, its quota is %lld (rule \"%s\")",
						previous, subject, usename, datname,
						held, (long long) quota.value, quota.rule)));
		return;
	}

	/* Not charged any more: lg_quota_judge() released the old name. */
	lg_quota_record(GetSessionUserId(), MyDatabaseId,
					MyProcPort ? &MyProcPort->raddr : NULL,
					appname, &quota, LG_ACTION_REFUSED);
	ereport(FATAL,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("too many connections for application \"%s\"", appname),
			 errdetail("This session changed its application_name from \"%s\"; leakguard allows %s at most %lld connections (rule \"%s\"), and it holds %d.",
					   previous, subject, (long long) quota.value, quota.rule, held)));
}

/*
 * The transaction has ended (lg_call_after_transaction()): PostgreSQL has
 * reverted by now the names set for the transaction only or rolled back
 * with it.  Move the charge to the name the session is left with, without
 * judging it: a name a session returns to this way is one it held before
 * the transaction, or one a statement or the commit judged (save one that
 * a fast-path call set and a later change in the same transaction block
 * hid from every check before it was reverted to).  Runs inside the end
 * of a transaction, where no error may be raised: nothing here reports
 * any.
 */
static void
lg_quota_settle(void *arg)
{
	LeakguardQuotaSlot *qs;
	LeakguardLimit quota;
	char		appname[NAMEDATALEN];
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	uint64		rules_id;
	int			mode;
	int			held;

	lg_settle_registered = false;
	if (!lg_charged || proc_exit_inprogress || lg_name_is_charged())
		return;
	strlcpy(appname, application_name ? application_name : "", NAMEDATALEN);

	/*
	 * By the policy this process applied last, never brought up to date
	 * here (that takes another lock, allocates and can fail): the mode and
	 * the rules and their identity are the same policy's.
	 */
	mode = lg_backend_mode_applied();
	rules_id = lg_quota_rules_id();
	qs = &lg_shared->quota[LG_MY_STATUS_SLOT()];
	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	strlcpy(usename, qs->usename, NAMEDATALEN);
	strlcpy(datname, qs->datname, NAMEDATALEN);
	(void) lg_quota_judge(appname, usename, datname, rules_id, mode, false,
						  &quota, &held);
	LWLockRelease(lg_shared->quota_lock);
}

/*
 * An aborted subtransaction (ROLLBACK TO SAVEPOINT, an exception caught in
 * PL/pgSQL) has been cleaned up, after PostgreSQL reverted the names it
 * gave.  If the session is back to the name it was charged under when the
 * subtransaction began, move the charge back without judging it; any other
 * name is judged by the next check, as a rename.  No error may be raised
 * here: nothing reports any.
 */
static void
lg_quota_settle_sub(void *arg)
{
	LeakguardQuotaSlot *qs;
	LeakguardLimit quota;
	char		usename[NAMEDATALEN];
	char		datname[NAMEDATALEN];
	uint64		rules_id;
	int			mode;
	int			held;

	lg_settle_sub_registered = false;
	if (!lg_charged || proc_exit_inprogress ||
		strcmp(lg_settle_sub_name, lg_charged_appname) == 0 ||
		strcmp(application_name ? application_name : "",
			   lg_settle_sub_name) != 0)
		return;

	/* By the policy applied last, as lg_quota_settle(). */
	mode = lg_backend_mode_applied();
	rules_id = lg_quota_rules_id();
	qs = &lg_shared->quota[LG_MY_STATUS_SLOT()];
	LWLockAcquire(lg_shared->quota_lock, LW_EXCLUSIVE);
	strlcpy(usename, qs->usename, NAMEDATALEN);
	strlcpy(datname, qs->datname, NAMEDATALEN);
	(void) lg_quota_judge(lg_settle_sub_name, usename, datname, rules_id,
						  mode, false, &quota, &held);
	LWLockRelease(lg_shared->quota_lock);
}

/*
 * A subtransaction begins: note the name the session is charged under.
 * One aborts: have lg_quota_settle_sub() run once it is cleaned up, when
 * its memory is released (lg_call_after_subtransaction()).
 */
static void
lg_quota_subxact(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			level;

	if (!lg_charged)
		return;
	level = GetCurrentTransactionNestLevel();
	if (event == SUBXACT_EVENT_START_SUB)
	{
		if (level >= lg_sub_names_size)
		{
			int			size = Max(8, 2 * level);

			lg_sub_names = lg_sub_names == NULL ?
				MemoryContextAlloc(TopMemoryContext, size * NAMEDATALEN) :
				repalloc(lg_sub_names, size * NAMEDATALEN);
			lg_sub_names_size = size;
		}
		strlcpy(lg_sub_names[level], lg_charged_appname, NAMEDATALEN);
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB && level < lg_sub_names_size &&
			 !lg_settle_sub_registered)
	{
		strlcpy(lg_settle_sub_name, lg_sub_names[level], NAMEDATALEN);
		lg_settle_sub_callback.func = lg_quota_settle_sub;
		lg_settle_sub_callback.arg = NULL;
		lg_call_after_subtransaction(&lg_settle_sub_callback);
		lg_settle_sub_registered = true;
	}
}

/*
 * Before a commit or a prepare: a name set where no statement hook saw it
 * (a fast-path function call, a commit-time trigger) is judged as any
 * rename, while the transaction can still fail.  At the end of any
 * transaction: settle the charge once PostgreSQL has reverted the names
 * the transaction gave (lg_quota_settle()).
 */
static void
lg_quota_xact(XactEvent event, void *arg)
{
	/*
	 * Every aborted subtransaction has been cleaned up before its
	 * transaction ends, its memory deleted and lg_quota_settle_sub() run
	 * if it was registered there: should it not have run, do not let its
	 * flag stop every later registration for the rest of the session.
	 */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		lg_settle_sub_registered = false;
	if (!lg_charged)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			lg_quota_follow_name();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			if (!lg_settle_registered && TopTransactionContext != NULL)
			{
				lg_settle_callback.func = lg_quota_settle;
				lg_settle_callback.arg = NULL;
				lg_call_after_transaction(&lg_settle_callback);
				lg_settle_registered = true;
			}
			break;
		default:
			break;
	}
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

/* After a utility statement, SET application_name among them. */
static void
lg_process_utility_hook(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	lg_quota_follow_name();
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	lg_quota_follow_name();
}

/* Before any other statement runs. */
static void
lg_executor_start_hook(QueryDesc *queryDesc, int eflags)
{
	lg_quota_follow_name();
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * After a query, which may have changed the name itself (set_config(), a
 * SET in a function): judged now, not at the next statement, which an idle
 * session may never send.  Not while the transaction aborts (a cursor's
 * executor is ended then): the name reverts with it anyway.
 */
static void
lg_executor_end_hook(QueryDesc *queryDesc)
{
	if (prev_executor_end_hook)
		prev_executor_end_hook(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (IsTransactionState())
		lg_quota_follow_name();
}

void
lg_install_quota_hook(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = lg_client_auth_hook;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = lg_process_utility_hook;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = lg_executor_start_hook;
	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = lg_executor_end_hook;
	RegisterXactCallback(lg_quota_xact, NULL);
	RegisterSubXactCallback(lg_quota_subxact, NULL);
}
