/*-------------------------------------------------------------------------
 *
 * policy.c
 *		The worker's view of the policy in force: the mode it acts in, and
 *		what a reload must change for reported sessions to be re-examined.
 *
 * The policy itself (the values every process applies, kept in shared
 * memory, judged at each reload) is settings.c's.  While no valid settings
 * are loaded, the worker only reports, as in dry_run.
 *
 * Shared state: none; the worker's local memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kinds.h"
#include "policy.h"
#include "settings.h"

#include "utils/palloc.h"

#ifdef LG_FAULT_RELOAD_PAUSE
#include <sys/stat.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
#endif

/* No valid settings are loaded: report only (settings.c). */
static bool lg_config_unsafe = false;

/* Whether the settings loaded are invalid (lg_config_start, _judge). */
void
lg_policy_set_unsafe(bool unsafe)
{
	lg_config_unsafe = unsafe;
}

/* The mode the worker acts in. */
int
lg_effective_mode(void)
{
	if (lg_config_unsafe && lg_mode == LG_MODE_ENFORCE)
		return LG_MODE_DRY_RUN;
	return lg_mode;
}

void
lg_policy_save(LgPolicy *p)
{
	p->mode = lg_effective_mode();
	p->terminate_superusers = lg_terminate_superusers;
	p->exempt_roles = pstrdup(lg_exempt_roles ? lg_exempt_roles : "");
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const char *rules = lg_kind_rules_text[k];

		p->default_limit[k] = lg_kind_limit[k];
		p->rules[k] = pstrdup(rules ? rules : "");
	}
}

bool
lg_policy_changed(const LgPolicy *p)
{
	if (p->mode != lg_effective_mode() ||
		p->terminate_superusers != lg_terminate_superusers ||
		strcmp(p->exempt_roles, lg_exempt_roles ? lg_exempt_roles : "") != 0)
		return true;
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const char *rules;

		if (!lg_kinds[k].session)
			continue;
		rules = lg_kind_rules_text[k];
		if (p->default_limit[k] != lg_kind_limit[k] ||
			strcmp(p->rules[k], rules ? rules : "") != 0)
			return true;
	}
	return false;
}

#ifdef LG_FAULT_RELOAD_PAUSE
/*
 * Test builds only (run-tests.sh builds a copy with LG_FAULT_RELOAD_PAUSE
 * for test/t/022): while a file of this name exists in the data directory,
 * a reload waits between ProcessConfigFile() and leakguard's own reading of
 * the files (at most 5 minutes), so that a test can edit them in between.
 */
#define LG_FAULT_PAUSE_FILE		"leakguard_fault_reload_pause"

void
lg_fault_reload_pause(void)
{
	struct stat st;
	int			waited_ms = 0;

	if (stat(LG_FAULT_PAUSE_FILE, &st) != 0)
		return;
	ereport(LOG, (errmsg_internal("leakguard fault injection: reload paused")));
	while (stat(LG_FAULT_PAUSE_FILE, &st) == 0 && waited_ms < 300 * 1000)
	{
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		waited_ms += 10;
	}
}
#endif
