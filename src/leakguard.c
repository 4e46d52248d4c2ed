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
#include "leakguard.h"
#include "sources.h"

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
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	lg_shmem_startup();
	lg_client_slots_init();
	lg_sources_shmem_init();
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
