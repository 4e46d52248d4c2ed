/*-------------------------------------------------------------------------
 *
 * settings.c
 *		leakguard's GUCs: definitions, check hooks and assign hooks.
 *
 * The check hooks do all the parsing and all the rejecting; the assign hooks
 * only swap a pointer and cannot fail.  So a rule string or role list that
 * does not parse is refused as a whole (ALTER SYSTEM raises an error, a
 * reload logs it and keeps the previous value) and a value is never applied
 * in part.  The parsed forms live in the GUC "extra" blocks, which the GUC
 * machinery owns and frees.
 *
 * When the worker reloads its configuration it brackets ProcessConfigFile()
 * with lg_config_error_begin()/lg_config_error_end(), so the check hooks can
 * collect their complaints and the worker can publish them in
 * leakguard.status().config_error.
 *
 * Shared state: LeakguardShared->config_error, under LeakguardShared->lock,
 * written by lg_config_error_end() in the worker only.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include <ctype.h>

#include "utils/builtins.h"
#include "utils/varlena.h"

int			lg_mode = LG_MODE_ENFORCE;
int			lg_default_timeout_ms = 0;
char	   *lg_application_timeouts = NULL;
int			lg_naptime_ms = 1000;
char	   *lg_exempt_roles = NULL;
bool		lg_terminate_superusers = false;
int			lg_connection_warning = 90;
int			lg_max_applications = 1000;
int			lg_history_size = 1000;
bool		lg_save_stats = true;

/* The parsed application_timeouts, owned by the GUC machinery. */
const LeakguardRuleSet *lg_rules = NULL;

/* The parsed exempt_roles: a count, offsets, then the names. */
typedef struct LgRoleList
{
	size_t		size;
	int			nroles;
	uint32		name_off[FLEXIBLE_ARRAY_MEMBER];
} LgRoleList;

static const LgRoleList *lg_exempt_list = NULL;

/* Complaints collected during one configuration reload of the worker. */
static bool lg_collecting_errors = false;
static char lg_collected_errors[LG_CONFIG_ERROR_LEN];

static const struct config_enum_entry lg_mode_options[] = {
	{"enforce", LG_MODE_ENFORCE, false},
	{"dry_run", LG_MODE_DRY_RUN, false},
	{"off", LG_MODE_OFF, false},
	{NULL, 0, false}
};

const char *
lg_mode_name(int mode)
{
	const struct config_enum_entry *e;

	for (e = lg_mode_options; e->name != NULL; e++)
		if (e->val == mode)
			return e->name;
	return "unknown";
}

static void
lg_collect_error(const char *guc, const char *detail)
{
	size_t		used;

	if (!lg_collecting_errors)
		return;
	used = strlen(lg_collected_errors);
	snprintf(lg_collected_errors + used, sizeof(lg_collected_errors) - used,
			 "%s%s: %s", used > 0 ? "; " : "", guc, detail);
}

static bool
lg_check_application_timeouts(char **newval, void **extra, GucSource source)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set;

	set = lg_rules_parse(*newval, err, sizeof(err));
	if (set == NULL)
	{
		if (err[0] == '\0')
		{
			GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
			GUC_check_errmsg("out of memory");
			return false;
		}
		/* Error details are full sentences. */
		err[0] = (char) toupper((unsigned char) err[0]);
		GUC_check_errdetail("%s.", err);
		lg_collect_error("leakguard.application_timeouts", err);
		return false;
	}
	*extra = lg_guc_extra(set, set->size);
	return *extra != NULL;
}

static void
lg_assign_application_timeouts(const char *newval, void *extra)
{
	lg_rules = (const LeakguardRuleSet *) extra;
}

static bool
lg_check_exempt_roles(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names;
	ListCell   *lc;
	size_t		size;
	LgRoleList *list;
	char	   *o;
	int			i = 0;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		GUC_check_errdetail("Role names must be separated by commas; quote names that hold commas, spaces or capitals.");
		lg_collect_error("leakguard.exempt_roles", "role names must be separated by commas");
		list_free(names);
		pfree(raw);
		return false;
	}

	size = offsetof(LgRoleList, name_off) + list_length(names) * sizeof(uint32);
	foreach(lc, names)
		size += strlen((char *) lfirst(lc)) + 1;

	list = malloc(size);
	if (list == NULL)
	{
		list_free(names);
		pfree(raw);
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	list->size = size;
	list->nroles = list_length(names);
	o = (char *) &list->name_off[list->nroles];
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		list->name_off[i++] = (uint32) (o - (char *) list);
		strcpy(o, name);
		o += strlen(name) + 1;
	}
	list_free(names);
	pfree(raw);

	*extra = lg_guc_extra(list, size);
	return *extra != NULL;
}

static void
lg_assign_exempt_roles(const char *newval, void *extra)
{
	lg_exempt_list = (const LgRoleList *) extra;
}

bool
lg_role_name_exempt(const char *rolname)
{
	int			i;

	if (lg_exempt_list == NULL || rolname == NULL)
		return false;
	for (i = 0; i < lg_exempt_list->nroles; i++)
		if (strcmp((const char *) lg_exempt_list + lg_exempt_list->name_off[i],
				   rolname) == 0)
			return true;
	return false;
}

void
lg_config_error_begin(void)
{
	lg_collecting_errors = true;
	lg_collected_errors[0] = '\0';
}

/*
 * Publish what the reload found wrong (or that nothing was), and tell the
 * log which values stay in force.
 */
void
lg_config_error_end(void)
{
	lg_collecting_errors = false;

	LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
	strlcpy(lg_shared->config_error, lg_collected_errors,
			sizeof(lg_shared->config_error));
	LWLockRelease(lg_shared->lock);

	if (lg_collected_errors[0] != '\0')
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leakguard rejected the new configuration; the previous values stay in force"),
				 errdetail("%s.", lg_collected_errors)));
}

void
lg_define_settings(void)
{
	DefineCustomEnumVariable("leakguard.mode",
							 "Whether leakguard terminates sessions (enforce), only reports them (dry_run), or does nothing (off).",
							 NULL,
							 &lg_mode,
							 LG_MODE_ENFORCE,
							 lg_mode_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("leakguard.idle_in_transaction_timeout",
							"Idle-in-transaction limit for applications that no rule names; 0 means no limit.",
							NULL,
							&lg_default_timeout_ms,
							0,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("leakguard.application_timeouts",
							   "Ordered rules pattern=duration, first match on application_name wins.",
							   "Example: 'batch*=10min, \"my app\"=30s, pg_dump=0'.",
							   &lg_application_timeouts,
							   "",
							   PGC_SIGHUP,
							   0,
							   lg_check_application_timeouts,
							   lg_assign_application_timeouts,
							   NULL);

	DefineCustomIntVariable("leakguard.naptime",
							"Longest sleep of the leakguard worker between two scans.",
							"The worker also wakes at the next known deadline.",
							&lg_naptime_ms,
							1000,
							10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("leakguard.exempt_roles",
							   "Roles whose sessions leakguard never terminates.",
							   NULL,
							   &lg_exempt_roles,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   lg_check_exempt_roles,
							   lg_assign_exempt_roles,
							   NULL);

	DefineCustomBoolVariable("leakguard.terminate_superusers",
							 "Whether superuser sessions are terminated; otherwise they are only reported.",
							 NULL,
							 &lg_terminate_superusers,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("leakguard.connection_warning",
							"Share of max_connections, in percent, at which leakguard logs a warning; 0 disables it.",
							NULL,
							&lg_connection_warning,
							90,
							0, 100,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("leakguard.save_stats",
							 "Whether leakguard's statistics are saved across clean server shutdowns.",
							 NULL,
							 &lg_save_stats,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	/*
	 * The rest sizes shared memory, so it can be set only at server start,
	 * and only when the library is preloaded.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("leakguard.max_applications",
							"Number of applications whose statistics are kept apart; the rest are counted together.",
							NULL,
							&lg_max_applications,
							1000,
							1, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("leakguard.history_size",
							"Number of terminations kept in leakguard.terminations.",
							NULL,
							&lg_history_size,
							1000,
							1, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}
