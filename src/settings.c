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
 * A bad value must never go unnoticed, and never make leakguard stricter
 * than configured.  PostgreSQL itself, at server start, replaces a custom
 * setting's bad value with the built-in default and only warns; at a
 * reload it keeps the previous value.  So leakguard checks for itself:
 *
 *	- at server start, in the postmaster: every leakguard setting that had a
 *	  value before its definition (postgresql.conf, postgresql.auto.conf,
 *	  the command line) is validated again after it; a rejected one is
 *	  logged and kept for shared memory, and the worker then only reports
 *	  (as in dry_run) until a good configuration is loaded;
 *	- in the worker, at its start and after every reload: the configuration
 *	  files are parsed and each leakguard.* entry validated without being
 *	  applied, which also catches misspelled names; the findings are
 *	  published in status().config_error (lg_config_check()).  A clean
 *	  reload ends the report-only state.  A reload with any bad leakguard
 *	  value changes nothing in the worker: PostgreSQL applies the good
 *	  values of a reload and keeps the bad one's previous value, which
 *	  would half-apply a policy (a lowered limit without the exemption
 *	  written next to it), so the worker puts back every leakguard value it
 *	  had before the reload (lg_settings_save()).
 *
 * Validation runs the same parse, range checks and check hooks as a real
 * assignment (set_config_option() with changeVal = false); the check hooks
 * add the rule parser's precise message while collecting is on.
 *
 * Shared state: LeakguardShared->config_error, config_unsafe, config_checked
 * and rules, under LeakguardShared->lock; written by the postmaster before
 * any child exists (lg_shmem_startup) and then by the worker only.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include <ctype.h>

#include "utils/builtins.h"
#include "utils/memutils.h"
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

int			lg_idle_timeout_ms = 0;
char	   *lg_application_idle_timeouts = NULL;
char	   *lg_application_connection_limits = NULL;

/* The parsed rule settings, owned by the GUC machinery. */
const LeakguardRuleSet *lg_rules = NULL;
const LeakguardRuleSet *lg_idle_rules = NULL;
const LeakguardRuleSet *lg_connection_rules = NULL;

/* The parsed exempt_roles: a count, offsets, then the names. */
typedef struct LgRoleList
{
	size_t		size;
	int			nroles;
	uint32		name_off[FLEXIBLE_ARRAY_MEMBER];
} LgRoleList;

static const LgRoleList *lg_exempt_list = NULL;

/* Complaints collected while settings are validated. */
static bool lg_collecting_errors = false;
static char lg_collected_errors[LG_CONFIG_ERROR_LEN];

/* Every leakguard setting. */
static const char *const lg_setting_names[] = {
	"leakguard.mode",
	"leakguard.idle_in_transaction_timeout",
	"leakguard.application_timeouts",
	"leakguard.idle_session_timeout",
	"leakguard.application_idle_timeouts",
	"leakguard.application_connection_limits",
	"leakguard.naptime",
	"leakguard.exempt_roles",
	"leakguard.terminate_superusers",
	"leakguard.connection_warning",
	"leakguard.save_stats",
	"leakguard.max_applications",
	"leakguard.history_size",
};
#define LG_NUM_SETTINGS ((int) lengthof(lg_setting_names))

/* In the postmaster at start: the value each had before it was defined. */
static char *lg_start_values[LG_NUM_SETTINGS];

/* What the postmaster found wrong at start; copied to shared memory. */
char		lg_start_errors[LG_CONFIG_ERROR_LEN];

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

/*
 * Validate one value for a setting without applying it, as a reload or a
 * server start would; collect what is wrong.  Returns whether it is good.
 */
static bool
lg_validate(const char *name, const char *value)
{
	size_t		before = strlen(lg_collected_errors);
	bool		ok;

	if (GetConfigOption(name, true, false) == NULL)
	{
		lg_collect_error(name, "unknown setting");
		return false;
	}
	ok = set_config_option(name, value, PGC_POSTMASTER, PGC_S_FILE,
						   GUC_ACTION_SET, false, DEBUG1, false) != 0;
	if (!ok && strlen(lg_collected_errors) == before)
	{
		char	   *detail = psprintf("invalid value \"%s\"", value);

		lg_collect_error(name, detail);
		pfree(detail);
	}
	return ok;
}

/* The check hook of the three rule settings. */
static bool
lg_check_rules(const char *guc, LeakguardRuleKind kind, char **newval,
			   void **extra)
{
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardRuleSet *set;

	set = lg_rules_parse(*newval, kind, LG_NAME_STYLE, err, sizeof(err));
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
		lg_collect_error(guc, err);
		return false;
	}
	*extra = lg_guc_extra(set, set->size);
	return *extra != NULL;
}

static bool
lg_check_application_timeouts(char **newval, void **extra, GucSource source)
{
	return lg_check_rules("leakguard.application_timeouts", LG_RULES_DURATION,
						  newval, extra);
}

static void
lg_assign_application_timeouts(const char *newval, void *extra)
{
	lg_rules = (const LeakguardRuleSet *) extra;
}

static bool
lg_check_application_idle_timeouts(char **newval, void **extra, GucSource source)
{
	return lg_check_rules("leakguard.application_idle_timeouts", LG_RULES_DURATION,
						  newval, extra);
}

static void
lg_assign_application_idle_timeouts(const char *newval, void *extra)
{
	lg_idle_rules = (const LeakguardRuleSet *) extra;
}

static bool
lg_check_application_connection_limits(char **newval, void **extra, GucSource source)
{
	return lg_check_rules("leakguard.application_connection_limits", LG_RULES_COUNT,
						  newval, extra);
}

static void
lg_assign_application_connection_limits(const char *newval, void *extra)
{
	lg_connection_rules = (const LeakguardRuleSet *) extra;
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

/*
 * In the worker, before a reload: every leakguard setting's value, to put
 * back if the reload brings a bad one.  Allocated in the current context.
 */
char	  **
lg_settings_save(void)
{
	char	  **saved = palloc(sizeof(char *) * LG_NUM_SETTINGS);
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const char *value = GetConfigOption(lg_setting_names[i], true, false);

		saved[i] = value ? pstrdup(value) : NULL;
	}
	return saved;
}

/* Put back, in this process, the values lg_settings_save() saw. */
static void
lg_settings_restore(char **saved)
{
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const char *now = GetConfigOption(lg_setting_names[i], true, false);

		if (saved[i] != NULL && now != NULL && strcmp(now, saved[i]) != 0)
			(void) set_config_option(lg_setting_names[i], saved[i], PGC_SIGHUP,
									 PGC_S_FILE, GUC_ACTION_SET, true,
									 WARNING, false);
	}
}

/* Whether name is in leakguard's GUC namespace, in any case. */
static bool
lg_is_leakguard_name(const char *name)
{
	return pg_strncasecmp(name, LG_NAME ".", strlen(LG_NAME) + 1) == 0;
}

/*
 * Validate the leakguard entries of the configuration files (the last of
 * each name, the one in force); what is wrong goes to errors.  Returns
 * whether all is well.
 */
static bool
lg_validate_files(char *errors)
{
	ConfigVariable *head = NULL;
	ConfigVariable *tail = NULL;
	ConfigVariable *item;
	ConfigVariable *later;
	MemoryContext context;
	MemoryContext old;

	/* The parser leaves allocations behind (include_dir's file lists). */
	context = AllocSetContextCreate(CurrentMemoryContext, "leakguard validation",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	lg_collecting_errors = true;
	lg_collected_errors[0] = '\0';

	if (!ParseConfigFile(ConfigFileName, true, NULL, 0, 0, DEBUG1, &head, &tail) ||
		!ParseConfigFile(PG_AUTOCONF_FILENAME, false, NULL, 0, 0, DEBUG1, &head, &tail))
		lg_collect_error("configuration files",
						 "they could not be parsed; the server log says where");
	else
	{
		for (item = head; item != NULL; item = item->next)
		{
			if (!lg_is_leakguard_name(item->name))
				continue;
			for (later = item->next; later != NULL; later = later->next)
				if (pg_strcasecmp(later->name, item->name) == 0)
					break;
			if (later == NULL)
				(void) lg_validate(item->name, item->value);
		}
	}
	FreeConfigVariables(head);

	lg_collecting_errors = false;
	strlcpy(errors, lg_collected_errors, LG_CONFIG_ERROR_LEN);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return errors[0] == '\0';
}

/*
 * In the worker, at its start (saved NULL) and after each reload (saved:
 * the values before it): publish the rules in force and what the
 * configuration files hold that is wrong.  A bad reload puts every
 * leakguard value back.  A clean reload ends the report-only state a bad
 * start put leakguard in; a clean check at the worker's start does not,
 * since the files may have been mended without a reload, the values in
 * force still being the defaults PostgreSQL put in place of the bad ones.
 * A bad result at the first check after the server started begins it.
 * Returns whether the worker must only report.
 */
bool
lg_config_check(char **saved)
{
	char		errors[LG_CONFIG_ERROR_LEN];
	bool		reloaded = (saved != NULL);
	bool		clean;
	bool		was_unsafe;
	bool		unsafe;

	clean = lg_validate_files(errors);
	if (reloaded && !clean)
		lg_settings_restore(saved);

	lg_lock_worker();
	was_unsafe = lg_shared->config_unsafe;
	if (clean && reloaded)
		lg_shared->config_unsafe = false;
	else if (!clean && !lg_shared->config_checked)
		lg_shared->config_unsafe = true;
	lg_shared->config_checked = true;
	unsafe = lg_shared->config_unsafe;
	strlcpy(lg_shared->config_error, errors, sizeof(lg_shared->config_error));
	lg_copy_cut(lg_shared->rules, lg_application_timeouts ? lg_application_timeouts : "",
				LG_RULES_TEXT_LEN);
	LWLockRelease(lg_shared->lock);

	if (unsafe)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leakguard only reports, and terminates no session, until valid settings are loaded"),
				 errdetail("%s.", errors[0] ? errors : "The settings the server started with were invalid"),
				 errhint("Correct the configuration file and reload it.")));
	else if (was_unsafe)
		ereport(LOG,
				(errmsg("leakguard settings are valid again; mode %s is in force",
						lg_mode_name(lg_mode))));
	else if (reloaded && !clean)
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leakguard rejected the new configuration; the previous values stay in force"),
				 errdetail("%s.", errors)));
	return unsafe;
}

/* In the postmaster at start, before the settings are defined. */
static void
lg_note_start_values(void)
{
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const char *raw = GetConfigOption(lg_setting_names[i], true, false);

		lg_start_values[i] = raw ? MemoryContextStrdup(TopMemoryContext, raw) : NULL;
	}
}

/*
 * In the postmaster at start, once every setting is defined: a value that
 * was set but rejected has been replaced by the default, and PostgreSQL
 * only warned.  Say what that means for leakguard and keep the findings
 * for shared memory (lg_shmem_startup), where they put the worker in
 * report-only state.
 */
static void
lg_start_checks(void)
{
	int			i;

	lg_collecting_errors = true;
	lg_collected_errors[0] = '\0';
	for (i = 0; i < LG_NUM_SETTINGS; i++)
		if (lg_start_values[i] != NULL)
			(void) lg_validate(lg_setting_names[i], lg_start_values[i]);
	lg_collecting_errors = false;
	strlcpy(lg_start_errors, lg_collected_errors, sizeof(lg_start_errors));

	if (lg_start_errors[0] != '\0')
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leakguard only reports, and terminates no session, until valid settings are loaded"),
				 errdetail("%s.", lg_start_errors),
				 errhint("Correct the configuration file and reload it.")));
}

void
lg_define_settings(void)
{
	if (process_shared_preload_libraries_in_progress && !IsUnderPostmaster)
		lg_note_start_values();

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

	DefineCustomIntVariable("leakguard.idle_session_timeout",
							"Idle-session limit for applications that no idle rule names; 0 means no limit.",
							"It applies to sessions idle outside a transaction.",
							&lg_idle_timeout_ms,
							0,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("leakguard.application_idle_timeouts",
							   "Ordered rules pattern=duration for idle sessions, first match on application_name wins.",
							   "Example: 'test-suite*=5min, pgbouncer*=0'.",
							   &lg_application_idle_timeouts,
							   "",
							   PGC_SIGHUP,
							   0,
							   lg_check_application_idle_timeouts,
							   lg_assign_application_idle_timeouts,
							   NULL);

	DefineCustomStringVariable("leakguard.application_connection_limits",
							   "Ordered rules pattern=N or pattern=P%: the most client connections one application_name may hold.",
							   "P% is a share of max_connections; 0 means no quota; a * rule sets a default.",
							   &lg_application_connection_limits,
							   "",
							   PGC_SIGHUP,
							   0,
							   lg_check_application_connection_limits,
							   lg_assign_application_connection_limits,
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
							"Refused connections are kept in a ring of the same size of their own.",
							&lg_history_size,
							1000,
							1, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	if (!IsUnderPostmaster)
		lg_start_checks();
}
