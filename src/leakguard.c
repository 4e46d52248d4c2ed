/*-------------------------------------------------------------------------
 *
 * leakguard.c
 *		Module entry point: settings, shared memory, worker, hooks.
 *
 * Loaded through shared_preload_libraries, leakguard reserves its shared
 * memory, registers its background worker, and installs in every backend
 * its emit_log_hook (report.c), its authentication hooks (quota.c, and
 * scan.c's, which tells the worker where client backends are), and the
 * executor, utility and transaction hooks that record episodes
 * (episodes.c).
 * Loaded any other way (CREATE EXTENSION on a server without the
 * preload), it defines its settings so they can be inspected, and its SQL
 * functions raise an error saying what is missing.
 *
 * Shared state: none directly; see shmem.c and sources.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "citus.h"
#include "hooks.h"
#include "leakguard.h"
#include "persist.h"
#include "quota.h"
#include "scan.h"
#include "settings.h"
#include "shmem.h"
#include "sources.h"
#include "stats.h"
#include "worker.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/shmem.h"
#include "storage/ipc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
lg_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	lg_shmem_request();
	RequestAddinShmemSpace(lg_client_slots_size());
	RequestAddinShmemSpace(lg_sources_shmem_size());
}

static void
lg_shmem_startup_hook(void)
{
	bool		created;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	created = lg_shmem_startup();

	/*
	 * Only the postmaster loads and saves the statistics file: at start, and
	 * when it exits after a clean shutdown.
	 */
	if (created && !IsUnderPostmaster)
	{
		lg_stats_load();
		lg_stats_full_report();
		on_shmem_exit(lg_stats_save, (Datum) 0);
	}
	lg_client_slots_init();
	lg_sources_shmem_init();
}

/* Registration: whether RegisterBackgroundWorker() complained. */
static bool lg_registration_failed = false;
static emit_log_hook_type lg_hook_before_registration = NULL;

/*
 * RegisterBackgroundWorker() returns nothing: every way it can fail
 * (max_worker_processes exhausted among them) is reported by ereport(LOG)
 * and a return, while success logs at DEBUG1 at most.  So a message of
 * level LOG or above during the call means the worker was not registered.
 */
static void
lg_registration_hook(ErrorData *edata)
{
	if (edata->elevel >= LOG)
		lg_registration_failed = true;
	if (lg_hook_before_registration)
		lg_hook_before_registration(edata);
}

void
lg_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = LG_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, LG_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "lg_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "leakguard worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, LG_NAME, BGW_MAXLEN);

	/*
	 * Listen to the registration (see lg_registration_hook).  If LOG
	 * messages are not processed at all (log_min_messages = fatal or
	 * panic), a failure cannot be seen: assume success.
	 */
	lg_registration_failed = false;
	lg_hook_before_registration = emit_log_hook;
	if (message_level_is_interesting(LOG))
		emit_log_hook = lg_registration_hook;
	RegisterBackgroundWorker(&worker);
	emit_log_hook = lg_hook_before_registration;

	if (lg_registration_failed)
	{
		lg_worker_unregistered = true;
		/*
		 * Connection quotas are admission control in the backends and need
		 * no worker; but with no worker to judge a reload, the policy in
		 * force stays the one the server started with (settings.c).
		 */
		if (lg_start_errors[0] != '\0')
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("leakguard worker could not be registered; no session will be terminated, and connection quotas only report"),
					 errdetail("Without the worker, no reload is judged: until the server is restarted, connection quotas apply the leakguard settings it started with, which are invalid (%s).",
							   lg_start_errors),
					 errhint("Raise max_worker_processes (now %d) and restart the server.",
							 max_worker_processes)));
		else
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("leakguard worker could not be registered; no session will be terminated, but connection quotas are enforced"),
					 errdetail("Without the worker, no reload is judged: until the server is restarted, connection quotas apply the leakguard settings it started with, as status().policy shows them."),
					 errhint("Raise max_worker_processes (now %d) and restart the server.",
							 max_worker_processes)));
	}
}

void
_PG_init(void)
{
	lg_define_settings();
	MarkGUCPrefixReserved(LG_NAME);

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = lg_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = lg_shmem_startup_hook;

	lg_citus_detect();
	lg_register_worker();
	lg_install_log_hook();
	lg_install_quota_hook();
	lg_install_client_slots_hook();
	lg_install_episode_hooks();
}
