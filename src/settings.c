/*-------------------------------------------------------------------------
 *
 * settings.c
 *		leakguard's GUCs: definitions and check hooks; the policy in force.
 *
 * The check hooks do all the parsing and all the rejecting, so a rule
 * string or role list that does not parse is refused as a whole (ALTER
 * SYSTEM raises an error, a reload logs it and keeps the previous value).
 * The GUC variables they guard are this file's own: what PostgreSQL applied
 * in this process, which SHOW shows.  Nothing acts on them but the worker,
 * which judges them and publishes the policy in force (below).
 *
 * A bad value must never go unnoticed, never make leakguard stricter than
 * configured, and never leave it enforcing half a policy.  PostgreSQL
 * itself, at server start, replaces a custom setting's bad value with the
 * built-in default and only warns; at a reload it applies the good values
 * and keeps the bad one's previous value, which would half-apply a policy
 * (a lowered limit without the exemption written next to it).  So the
 * worker holds its own policy, one complete set of values that passed
 * validation together:
 *
 *	- server start, in the postmaster: every leakguard setting that had a
 *	  value before its definition (postgresql.conf, postgresql.auto.conf,
 *	  the command line) is validated again after it; what is rejected is
 *	  logged and kept for shared memory with the time of that load of the
 *	  files.  While the postmaster has not loaded the files again, those
 *	  findings hold (its values, every backend's, are still the defaults in
 *	  place of the bad ones), and the worker only reports (as in dry_run);
 *	- reload, in the worker (lg_config_judge()): the files are read once and
 *	  each leakguard.* entry validated without being applied, which also
 *	  catches misspelled names.  All valid: the worker sets every leakguard
 *	  value from that reading itself, so that it enforces exactly what it
 *	  judged, and report-only ends.  Anything bad: it puts back every value
 *	  it had before the reload, and keeps enforcing them (or keeps only
 *	  reporting).  The findings go to status().config_error;
 *	- worker restart (lg_config_start()): the policy in force is kept in
 *	  shared memory, and a restarted worker takes it up, with the report-only
 *	  state and findings, instead of the postmaster's values; if the
 *	  postmaster has loaded the files since they were last judged (a reload
 *	  while no worker ran), it judges them as at a reload;
 *	- crash restart: shared memory is initialised again, the server start's
 *	  findings hold only if the files were not loaded since, and the new
 *	  worker judges the files as they are: valid, it enforces them; bad, it
 *	  only reports and says why.  A bad value never leaves report-only
 *	  without a config_error that says why.
 *
 * The policy in force.  What the worker ends with is one object: the value
 * of every setting a reload can change and the report-only state, published
 * in shared memory under the lock with a new generation (lg_policy_publish()),
 * and applied by every process, the worker included, through the variables
 * lg_mode, lg_rules, lg_exempt_roles and the rest (lg_policy_refresh(),
 * which parses the values again only when the generation moved).  So
 * quota admission and renames (quota.c), limit_for(), the views and
 * suggest_limits() judge by exactly what the worker judges by, never by
 * what PostgreSQL applied in their own process.  Until a worker has judged
 * the files (server start, crash restart, or no worker at all), the policy
 * in force is the postmaster's values, validated at start, which it
 * publishes when it initialises shared memory (lg_policy_init()), with
 * the report-only state of its findings.  No worker ever registered
 * (max_worker_processes): that stays the policy until a restart, since
 * nothing else judges a reload.  A set of values longer than
 * LG_POLICY_LEN together is rejected as a bad value is.
 *
 * Validation runs the same parse, range checks and check hooks as a real
 * assignment (set_config_option() with changeVal = false); the check hooks
 * add the rule parser's precise message while collecting is on.
 *
 * Shared state: LeakguardShared->config_error, config_unsafe, config_checked,
 * rules, policy_judged_at, policy and policy_len under LeakguardShared->lock
 * (policy_generation is atomic, bumped under it); start_errors and
 * start_load_time, constant; all written by the postmaster when it
 * initialises shared memory (lg_shmem_startup), before any child exists,
 * and then by the worker only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "compat.h"
#include "kinds.h"
#include "leakguard.h"
#include "rules.h"
#include "sessionlimits.h"
#include "settings.h"
#include "shmem.h"
#include "sources.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

/*
 * The policy in force in this process (see "The policy in force" above):
 * set by lg_policy_refresh() from what the worker published, never by the
 * GUC machinery.  Strings and parsed rule sets live in lg_policy_context.
 */
int			lg_mode = LG_MODE_ENFORCE;
int			lg_naptime_ms = 1000;
char	   *lg_exempt_roles = NULL;
bool		lg_terminate_superusers = false;
int			lg_connection_warning = 90;

/*
 * The settings of each kind of limit (lg_kinds[]) in force: its default
 * limit, its rules' text and their parsed set (NULL: none).
 */
int			lg_kind_limit[LG_NUM_KINDS];
char	   *lg_kind_rules_text[LG_NUM_KINDS];
const LeakguardRuleSet *lg_kind_rules[LG_NUM_KINDS];

/*
 * Settings set at server start, and save_stats, which the postmaster reads
 * at its exit: the GUC variables themselves.
 */
int			lg_max_applications = 1000;
int			lg_history_size = 1000;
bool		lg_save_stats = true;
int			lg_max_sources = 1000;	/* of sources.c */

/*
 * The GUC variables of the settings a reload can change: what PostgreSQL
 * applied in this process, which SHOW shows.  Only the worker acts on them
 * (it sets them itself, to the set it judged, and publishes that).
 */
static int	lg_guc_mode = LG_MODE_ENFORCE;
static int	lg_guc_kind_limit[LG_NUM_KINDS];
static char *lg_guc_kind_rules[LG_NUM_KINDS];
static int	lg_guc_naptime_ms = 1000;
static char *lg_guc_exempt_roles = NULL;
static bool lg_guc_terminate_superusers = false;
static int	lg_guc_connection_warning = 90;

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

/* How a published value becomes a variable of the policy in force. */
typedef enum LgSettingType
{
	LG_SETTING_MODE,			/* int *, an lg_mode_options name */
	LG_SETTING_INT,				/* int *, a plain integer (base unit) */
	LG_SETTING_BOOL,			/* bool * */
	LG_SETTING_RULES,			/* char **, and its parsed set in *parsed */
	LG_SETTING_ROLES			/* char **, and lg_exempt_list */
} LgSettingType;

/*
 * Every leakguard setting, with the built-in default of those a reload can
 * change (the boot values lg_define_settings() gives; NULL for the two that
 * are set only at server start), and the variable of the policy in force
 * it sets (NULL: none; save_stats is read by the postmaster, from its own
 * GUC).  The published policy holds the value of each setting with a boot
 * value, in this order.
 */
typedef struct LgSetting
{
	const char *name;
	const char *boot;
	LgSettingType type;
	void	   *policy;
	LeakguardRuleKind rule_kind;	/* LG_SETTING_RULES */
	const LeakguardRuleSet **parsed;	/* LG_SETTING_RULES */
} LgSetting;

/*
 * Built by lg_settings_build(): the mode, then the settings of each kind of
 * limit in the order of lg_kinds[] (its default limit, then its rules),
 * then the others, so that a kind added to the table brings its settings.
 */
static const LgSetting lg_settings_head[] = {
	{"leakguard.mode", "enforce", LG_SETTING_MODE, &lg_mode},
};
static const LgSetting lg_settings_tail[] = {
	{"leakguard.naptime", "1000", LG_SETTING_INT, &lg_naptime_ms},
	{"leakguard.exempt_roles", "", LG_SETTING_ROLES, &lg_exempt_roles},
	{"leakguard.terminate_superusers", "off", LG_SETTING_BOOL, &lg_terminate_superusers},
	{"leakguard.connection_warning", "90", LG_SETTING_INT, &lg_connection_warning},
	{"leakguard.save_stats", "on", LG_SETTING_BOOL, NULL},
	{"leakguard.max_applications", NULL},
	{"leakguard.history_size", NULL},
	{"leakguard.max_sources", NULL},
};

#define LG_MAX_SETTINGS \
	((int) (lengthof(lg_settings_head) + 2 * LG_NUM_KINDS + lengthof(lg_settings_tail)))

static LgSetting lg_settings[LG_MAX_SETTINGS];
static int	lg_num_settings = 0;

#define LG_NUM_SETTINGS lg_num_settings

static void
lg_settings_build(void)
{
	int			n = 0;

	if (lg_num_settings > 0)
		return;
	for (int i = 0; i < (int) lengthof(lg_settings_head); i++)
		lg_settings[n++] = lg_settings_head[i];
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LeakguardKindDef *kind = &lg_kinds[k];

		if (kind->default_guc != NULL)
		{
			lg_settings[n].name = kind->default_guc;
			lg_settings[n].boot = "0";
			lg_settings[n].type = LG_SETTING_INT;
			lg_settings[n].policy = &lg_kind_limit[k];
			n++;
		}
		if (kind->rules_guc != NULL)
		{
			lg_settings[n].name = kind->rules_guc;
			lg_settings[n].boot = "";
			lg_settings[n].type = LG_SETTING_RULES;
			lg_settings[n].policy = &lg_kind_rules_text[k];
			lg_settings[n].rule_kind = kind->rule_kind;
			lg_settings[n].parsed = &lg_kind_rules[k];
			n++;
		}
	}
	for (int i = 0; i < (int) lengthof(lg_settings_tail); i++)
		lg_settings[n++] = lg_settings_tail[i];
	lg_num_settings = n;
}

/* In the postmaster at start: the value each had before it was defined. */
static char *lg_start_values[LG_MAX_SETTINGS];

/*
 * What the postmaster found wrong at start, and when it had loaded the
 * files it found it in (PgReloadTime); copied to shared memory.
 */
char		lg_start_errors[LG_CONFIG_ERROR_LEN];
TimestampTz lg_start_load_time = 0;

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

/*
 * The check hook of the rule settings: the parse, for its verdict and its
 * message.  Nothing is kept: the policy in force is parsed from what the
 * worker publishes (lg_policy_refresh()).
 */
static bool
lg_check_rules(const char *guc, LeakguardRuleKind kind, char **newval)
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
	free(set);
	return true;
}

/*
 * The check hook of each kind's rules setting: a GUC check hook is not told
 * which setting it checks, and the collected complaints name it, so one
 * hook per place in lg_kinds[], each naming its kind.
 */
static bool
lg_check_kind_rules(int k, char **newval)
{
	/* the hooks beyond the table's rows are never installed */
	if (k >= LG_NUM_KINDS)
		return false;
	return lg_check_rules(lg_kinds[k].rules_guc, lg_kinds[k].rule_kind, newval);
}

#define LG_KIND_CHECK_HOOK(k) \
static bool \
lg_check_kind_rules_##k(char **newval, void **extra, GucSource source) \
{ \
	return lg_check_kind_rules(k, newval); \
}

LG_KIND_CHECK_HOOK(0)
LG_KIND_CHECK_HOOK(1)
LG_KIND_CHECK_HOOK(2)
LG_KIND_CHECK_HOOK(3)
LG_KIND_CHECK_HOOK(4)
LG_KIND_CHECK_HOOK(5)
LG_KIND_CHECK_HOOK(6)
LG_KIND_CHECK_HOOK(7)
LG_KIND_CHECK_HOOK(8)
LG_KIND_CHECK_HOOK(9)
LG_KIND_CHECK_HOOK(10)
LG_KIND_CHECK_HOOK(11)

static GucStringCheckHook const lg_kind_check_hooks[] = {
	lg_check_kind_rules_0, lg_check_kind_rules_1, lg_check_kind_rules_2,
	lg_check_kind_rules_3, lg_check_kind_rules_4, lg_check_kind_rules_5,
	lg_check_kind_rules_6, lg_check_kind_rules_7, lg_check_kind_rules_8,
	lg_check_kind_rules_9, lg_check_kind_rules_10, lg_check_kind_rules_11,
};

StaticAssertDecl(LG_NUM_KINDS <= lengthof(lg_kind_check_hooks),
				 "a check hook for every kind of limit");

/*
 * Parse a list of role names into an LgRoleList allocated in the current
 * context; NULL if the list does not parse.
 */
static LgRoleList *
lg_role_list_parse(const char *value)
{
	char	   *raw = pstrdup(value);
	List	   *names;
	ListCell   *lc;
	size_t		size;
	LgRoleList *list = NULL;
	char	   *o;
	int			i = 0;

	if (SplitIdentifierString(raw, ',', &names))
	{
		size = offsetof(LgRoleList, name_off) + list_length(names) * sizeof(uint32);
		foreach(lc, names)
			size += strlen((char *) lfirst(lc)) + 1;

		list = palloc(size);
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
	}
	list_free(names);
	pfree(raw);
	return list;
}

static bool
lg_check_exempt_roles(char **newval, void **extra, GucSource source)
{
	LgRoleList *list = lg_role_list_parse(*newval);

	if (list == NULL)
	{
		GUC_check_errdetail("Role names must be separated by commas; quote names that hold commas, spaces or capitals.");
		lg_collect_error("leakguard.exempt_roles", "role names must be separated by commas");
		return false;
	}
	pfree(list);
	return true;
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
 * In the worker: the value of every setting a reload can change (NULL for
 * the others), to put back if a reload brings a bad one.  Allocated in the
 * current context.
 */
char	  **
lg_settings_save(void)
{
	char	  **saved = palloc0(sizeof(char *) * LG_NUM_SETTINGS);
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
		if (lg_settings[i].boot != NULL)
			saved[i] = pstrdup(GetConfigOption(lg_settings[i].name, false, false));
	return saved;
}

/*
 * Set, in this process, every setting a reload can change: to values[i],
 * or to its built-in default where values[i] is NULL.  Same context and
 * source as a reload, so a value given on the command line still wins, as
 * it does over the files.  A value that cannot be applied (out of memory:
 * every value was validated before) raises an ERROR, and the worker exits
 * before it scans under a set applied in part; it is restarted.
 */
static void
lg_settings_apply(char **values)
{
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const char *value = values[i] ? values[i] : lg_settings[i].boot;

		if (lg_settings[i].boot == NULL ||
			strcmp(GetConfigOption(lg_settings[i].name, false, false), value) == 0)
			continue;
		(void) set_config_option(lg_settings[i].name, value, PGC_SIGHUP,
								 PGC_S_FILE, GUC_ACTION_SET, true, ERROR, false);
	}
}

/*
 * The values of the settings a reload can change, as the published policy
 * holds them: values[i], or the built-in default where values[i] is NULL;
 * values NULL: this process's GUC values.
 */
static const char *
lg_policy_value(char **values, int i)
{
	if (values == NULL)
		return GetConfigOption(lg_settings[i].name, false, false);
	return values[i] ? values[i] : lg_settings[i].boot;
}

/* Whether the values (as lg_policy_value()) fit in LG_POLICY_LEN. */
static bool
lg_policy_fits(char **values)
{
	size_t		used = 0;

	for (int i = 0; i < LG_NUM_SETTINGS; i++)
		if (lg_settings[i].boot != NULL)
			used += strlen(lg_policy_value(values, i)) + 1;
	return used <= LG_POLICY_LEN;
}

/*
 * Publish the values (as lg_policy_value(); they must fit) as the policy
 * in force, with a new generation.  The caller holds LeakguardShared->lock
 * exclusive and has set config_unsafe, which goes with them; or it is the
 * postmaster initialising shared memory.
 */
static void
lg_policy_publish(char **values)
{
	size_t		used = 0;

	for (int i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const char *value;
		size_t		len;

		if (lg_settings[i].boot == NULL)
			continue;
		value = lg_policy_value(values, i);
		len = strlen(value) + 1;
		Assert(len <= LG_POLICY_LEN - used);
		memcpy(lg_shared->policy + used, value, len);
		used += len;
	}
	lg_shared->policy_len = used;
	pg_atomic_fetch_add_u64(&lg_shared->policy_generation, 1);
}

/*
 * In the postmaster, when it initialises shared memory (server start, crash
 * restart): until a worker has judged the files, the policy in force is
 * the postmaster's own values, validated at start (a bad value was
 * replaced by its default, and config_unsafe, set by the caller, makes
 * the policy report only).  Values too long to publish: the built-in
 * defaults, reporting only.
 */
void
lg_policy_init(void)
{
	pg_atomic_init_u64(&lg_shared->policy_generation, 0);
	lg_shared->policy_judged_at = 0;
	if (lg_policy_fits(NULL))
		lg_policy_publish(NULL);
	else
	{
		char	   *defaults[LG_MAX_SETTINGS] = {0};

		lg_shared->config_unsafe = true;
		strlcpy(lg_shared->config_error,
				"the leakguard settings take more than 256 kB together",
				sizeof(lg_shared->config_error));
		lg_policy_publish(defaults);
	}
}

/* The values published, in the current context. */
static char **
lg_policy_read(void)
{
	const char *p = lg_shared->policy;
	char	  **values;
	int			i;

	values = palloc0(sizeof(char *) * LG_NUM_SETTINGS);
	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		if (lg_settings[i].boot == NULL)
			continue;
		values[i] = pstrdup(p);
		p += strlen(p) + 1;
	}
	return values;
}

/*
 * The policy in force in this process: its generation, its report-only
 * state, the published values it was made from (for status()), and the
 * context that holds them and the variables' strings and parsed sets.
 */
static uint64 lg_policy_generation = 0;
static bool lg_policy_unsafe = false;
static char **lg_policy_values = NULL;
static MemoryContext lg_policy_context = NULL;

/* A published value parsed, before it is set. */
typedef union LgParsed
{
	int			i;
	bool		b;
	void	   *ptr;
} LgParsed;

/*
 * Make the variables of the policy in force (lg_mode, lg_rules, ...) the
 * policy the worker published, if it published a new one since this
 * process last looked: one atomic read when nothing changed.  Every
 * process calls it before it judges anything by the policy: a backend at
 * admission and at a change of application_name (lg_backend_mode()), the
 * SQL functions (lg_require_shmem()), the worker after it judged the
 * files.  The values were validated by the worker, so parsing cannot fail
 * but for want of memory; the variables change all together or not at
 * all.
 */
void
lg_policy_refresh(void)
{
	uint64		generation;
	char	   *buf = NULL;
	size_t		size = 0;
	size_t		len;
	const char *p;
	bool		unsafe;
	MemoryContext context;
	MemoryContext old;
	char	  **values;
	LgParsed	parsed[LG_MAX_SETTINGS];
	int			i;

	generation = 0;
	unsafe = false;
	memset(parsed, 0, sizeof(parsed));
	if (lg_shared == NULL ||
		pg_atomic_read_u64(&lg_shared->policy_generation) == lg_policy_generation)
		return;

	/* Made under the caller's context, kept only once it is complete. */
	context = AllocSetContextCreate(CurrentMemoryContext, "leakguard policy",
									ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(context);
	for (;;)
	{
		LWLockAcquire(lg_shared->lock, LW_SHARED);
		len = lg_shared->policy_len;
		if (buf != NULL && len <= size)
		{
			memcpy(buf, lg_shared->policy, len);
			generation = pg_atomic_read_u64(&lg_shared->policy_generation);
			unsafe = lg_shared->config_unsafe;
			LWLockRelease(lg_shared->lock);
			break;
		}
		LWLockRelease(lg_shared->lock);
		size = Max(len, 1);
		buf = palloc(size);
	}

	values = palloc0(sizeof(char *) * LG_NUM_SETTINGS);
	p = buf;
	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		size_t		vlen;

		if (lg_settings[i].boot == NULL)
			continue;
		vlen = strnlen(p, buf + len - p);
		if (vlen == (size_t) (buf + len - p))
			elog(ERROR, "the policy leakguard published is incomplete");
		values[i] = pstrdup(p);
		p += vlen + 1;
	}

	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const LgSetting *st = &lg_settings[i];
		bool		ok = true;

		if (st->policy == NULL)
			continue;
		switch (st->type)
		{
			case LG_SETTING_MODE:
				{
					const struct config_enum_entry *e;

					for (e = lg_mode_options; e->name != NULL; e++)
						if (strcmp(e->name, values[i]) == 0)
							break;
					ok = (e->name != NULL);
					parsed[i].i = ok ? e->val : 0;
				}
				break;
			case LG_SETTING_INT:
				{
					char	   *end;
					long		v;

					errno = 0;
					v = strtol(values[i], &end, 10);
					ok = (errno == 0 && *end == '\0' && end != values[i] &&
						  v >= INT_MIN && v <= INT_MAX);
					parsed[i].i = (int) v;
				}
				break;
			case LG_SETTING_BOOL:
				ok = parse_bool(values[i], &parsed[i].b);
				break;
			case LG_SETTING_RULES:
				{
					char		err[LG_RULE_ERROR_SIZE];
					LeakguardRuleSet *set;

					set = lg_rules_parse(values[i], st->rule_kind,
										 LG_NAME_STYLE, err, sizeof(err));
					if (set == NULL && err[0] == '\0')
						ereport(ERROR,
								(errcode(ERRCODE_OUT_OF_MEMORY),
								 errmsg("out of memory")));
					ok = (set != NULL);
					if (ok)
					{
						parsed[i].ptr = palloc(set->size);
						memcpy(parsed[i].ptr, set, set->size);
						free(set);
					}
				}
				break;
			case LG_SETTING_ROLES:
				parsed[i].ptr = lg_role_list_parse(values[i]);
				ok = (parsed[i].ptr != NULL);
				break;
		}
		if (!ok)
			elog(ERROR, "the policy leakguard published has an invalid value for \"%s\": \"%s\"",
				 st->name, values[i]);
	}
	MemoryContextSwitchTo(old);

	/* Complete: set every variable at once. */
	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const LgSetting *st = &lg_settings[i];

		if (st->policy == NULL)
			continue;
		switch (st->type)
		{
			case LG_SETTING_MODE:
			case LG_SETTING_INT:
				*(int *) st->policy = parsed[i].i;
				break;
			case LG_SETTING_BOOL:
				*(bool *) st->policy = parsed[i].b;
				break;
			case LG_SETTING_RULES:
				*(char **) st->policy = values[i];
				*st->parsed = (const LeakguardRuleSet *) parsed[i].ptr;
				break;
			case LG_SETTING_ROLES:
				*(char **) st->policy = values[i];
				lg_exempt_list = (const LgRoleList *) parsed[i].ptr;
				break;
		}
	}
	lg_policy_unsafe = unsafe;
	lg_policy_values = values;
	lg_policy_generation = generation;
	MemoryContextSetParent(context, TopMemoryContext);
	if (lg_policy_context != NULL)
		MemoryContextDelete(lg_policy_context);
	lg_policy_context = context;
}

/*
 * The mode connection quotas are applied in, by the policy this process
 * applied last, without bringing it up to date: no lock, no allocation, no
 * error.  For the callbacks that run after a transaction ended
 * (quota.c), where none of those is allowed.  As the worker does, report
 * only while no valid settings are loaded.
 */
int
lg_backend_mode_applied(void)
{
	if (lg_mode == LG_MODE_ENFORCE && lg_policy_unsafe)
		return LG_MODE_DRY_RUN;
	return lg_mode;
}

/* The same, by the policy in force (brought up to date first). */
int
lg_backend_mode(void)
{
	lg_policy_refresh();
	return lg_backend_mode_applied();
}

/*
 * The policy in force, for status(): a line "name = 'value'" per setting a
 * reload can change, quoted as in postgresql.conf.
 */
char *
lg_policy_text(void)
{
	StringInfoData buf;

	lg_policy_refresh();
	initStringInfo(&buf);
	for (int i = 0; i < LG_NUM_SETTINGS; i++)
	{
		if (lg_settings[i].boot == NULL || lg_policy_values == NULL)
			continue;
		appendStringInfo(&buf, "%s%s = '", buf.len > 0 ? "\n" : "",
						 lg_settings[i].name);
		for (const char *c = lg_policy_values[i]; *c != '\0'; c++)
		{
			if (*c == '\'')
				appendStringInfoChar(&buf, '\'');
			appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '\'');
	}
	return buf.data;
}

/* Whether name is in leakguard's GUC namespace, in any case. */
static bool
lg_is_leakguard_name(const char *name)
{
	return pg_strncasecmp(name, LG_NAME ".", strlen(LG_NAME) + 1) == 0;
}

/* The index in lg_settings of a setting named in any case; -1 if none. */
static int
lg_setting_index(const char *name)
{
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
		if (pg_strcasecmp(lg_settings[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Read the configuration files once and validate their leakguard entries
 * (the last of each name, the one in force): what is wrong goes to errors,
 * and the value the files give each setting a reload can change to
 * values[i] (left NULL where they give none), allocated in the caller's
 * context.  Returns whether all is well.
 */
static bool
lg_read_files(char *errors, char **values)
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
			int			i;

			if (!lg_is_leakguard_name(item->name))
				continue;
			for (later = item->next; later != NULL; later = later->next)
				if (pg_strcasecmp(later->name, item->name) == 0)
					break;
			if (later != NULL || !lg_validate(item->name, item->value))
				continue;
			i = lg_setting_index(item->name);
			if (i >= 0 && lg_settings[i].boot != NULL)
				values[i] = MemoryContextStrdup(old, item->value);
		}
	}
	FreeConfigVariables(head);

	lg_collecting_errors = false;
	strlcpy(errors, lg_collected_errors, LG_CONFIG_ERROR_LEN);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return errors[0] == '\0';
}

/* The warning of the report-only state; errors says why. */
static void
lg_warn_report_only(const char *errors)
{
	ereport(WARNING,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("leakguard only reports, and terminates no session, until valid settings are loaded"),
			 errdetail("%s.", errors),
			 errhint("Correct the configuration file and reload it.")));
}

/*
 * In the worker: judge the configuration files, and make the worker's
 * leakguard values one complete, valid set, never a mix.  If every
 * leakguard entry of the files is valid, the worker takes exactly those
 * values (the built-in default for a setting the files do not give).
 * Otherwise it puts back saved, the values in force before (after a
 * reload, or at a restart when a reload came while no worker ran); when
 * there are none (the first judgement since shared memory was initialised:
 * server start, crash restart) it only reports until valid settings are
 * loaded.  What it finds wrong is published in status().config_error, and
 * the values it ends with are kept for a restarted worker.  Returns
 * whether the worker must only report.
 *
 * The files are read once here.  After a reload, ProcessConfigFile() has
 * read them already and applied what it accepted, and an edit can land
 * between its reading and this one: judging this reading but keeping what
 * ProcessConfigFile() applied could accept a half-applied set (first
 * reading bad, second clean), or reject a good one.  So the worker does not
 * keep what ProcessConfigFile() applied to leakguard's settings: it sets
 * every one of them itself, from the reading it judged, or back to saved.
 * The edit in between is then at worst taken a moment before its own
 * reload, whole and valid, or refused whole.
 */
bool
lg_config_judge(char **saved)
{
	char		errors[LG_CONFIG_ERROR_LEN];
	char	  **values = palloc0(sizeof(char *) * LG_NUM_SETTINGS);
	TimestampTz judged_at = GetCurrentTimestamp();
	bool		clean;
	bool		was_unsafe;
	bool		unsafe;

	clean = lg_read_files(errors, values);

	/*
	 * While the postmaster has not loaded the files again since it started,
	 * its values (every backend's, for quotas) are still the defaults
	 * PostgreSQL put in place of the bad ones: files mended since then do
	 * not change that until they are reloaded.
	 */
	if (clean && lg_shared->start_errors[0] != '\0' &&
		PgReloadTime == lg_shared->start_load_time)
	{
		strlcpy(errors, lg_shared->start_errors, sizeof(errors));
		clean = false;
	}

	if (clean)
	{
		lg_settings_apply(values);
		if (!lg_policy_fits(NULL))
		{
			strlcpy(errors, "the leakguard settings take more than 256 kB together",
					sizeof(errors));
			clean = false;
		}
	}
	if (!clean && saved != NULL)
		lg_settings_apply(saved);
	if (!lg_policy_fits(NULL))
	{
		/* nothing fits but the defaults: report only */
		char	   *defaults[LG_MAX_SETTINGS] = {0};

		lg_settings_apply(defaults);
		saved = NULL;
	}

	/*
	 * Published as one object: the values, their report-only state and the
	 * findings, under one hold of the lock, with a new generation.
	 */
	lg_lock_worker();
	was_unsafe = lg_shared->config_unsafe;
	unsafe = !clean && (saved == NULL || was_unsafe);
	lg_shared->config_unsafe = unsafe;
	lg_shared->config_checked = true;
	strlcpy(lg_shared->config_error, errors, sizeof(lg_shared->config_error));
	lg_copy_cut(lg_shared->rules, lg_guc_kind_rules[LG_KIND_IDLE_IN_XACT] ? lg_guc_kind_rules[LG_KIND_IDLE_IN_XACT] : "",
				LG_RULES_TEXT_LEN);
	/* A reload stamped after judged_at began is judged again at a restart. */
	lg_shared->policy_judged_at = judged_at;
	lg_policy_publish(NULL);
	LWLockRelease(lg_shared->lock);
	lg_policy_refresh();

	if (unsafe)
		lg_warn_report_only(errors);
	else if (was_unsafe)
		ereport(LOG,
				(errmsg("leakguard settings are valid again; mode %s is in force",
						lg_mode_name(lg_mode))));
	else if (!clean)
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leakguard rejected the new configuration; the previous values stay in force"),
				 errdetail("%s.", errors)));
	return unsafe;
}

/*
 * In the worker, at its start.  The values it inherits are the
 * postmaster's: after a reload that brought one bad leakguard value, they
 * are what PostgreSQL keeps (the good values applied, the bad one left as
 * it was), a set the previous worker refused.  So a restarted worker takes
 * up the values the previous one enforced, and its report-only state and
 * findings, as they are in shared memory.  It judges the files instead
 * when there is nothing to take up (the first start since shared memory
 * was initialised, at server start or after a crash restart: the policy
 * published is the postmaster's, never judged), and when the postmaster has loaded the files since they
 * were last judged (a reload that came while no worker ran; the policy in
 * force is then what a bad reload falls back to).  Returns whether the
 * worker must only report; *taken_up says whether it took the policy up.
 */
bool
lg_config_start(bool *taken_up)
{
	MemoryContext context;
	MemoryContext old;
	char	  **kept;
	char		errors[LG_CONFIG_ERROR_LEN];
	bool		unsafe;

	context = AllocSetContextCreate(CurrentMemoryContext, "leakguard start",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	/* a policy the postmaster published has not been judged */
	kept = lg_shared->policy_judged_at != 0 ? lg_policy_read() : NULL;

	*taken_up = !(kept == NULL || PgReloadTime > lg_shared->policy_judged_at);
	if (!*taken_up)
		unsafe = lg_config_judge(kept);
	else
	{
		lg_settings_apply(kept);
		lg_lock_worker();
		unsafe = lg_shared->config_unsafe;
		strlcpy(errors, lg_shared->config_error, sizeof(errors));
		lg_copy_cut(lg_shared->rules, lg_guc_kind_rules[LG_KIND_IDLE_IN_XACT] ? lg_guc_kind_rules[LG_KIND_IDLE_IN_XACT] : "",
					LG_RULES_TEXT_LEN);
		LWLockRelease(lg_shared->lock);
		lg_policy_refresh();

		if (unsafe)
			lg_warn_report_only(errors);
		else if (errors[0] != '\0')
			ereport(LOG,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("leakguard worker keeps the values that were in force before its restart"),
					 errdetail("The configuration files hold invalid values: %s.", errors)));
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return unsafe;
}

/* In the postmaster at start, before the settings are defined. */
static void
lg_note_start_values(void)
{
	int			i;

	for (i = 0; i < LG_NUM_SETTINGS; i++)
	{
		const char *raw = GetConfigOption(lg_settings[i].name, true, false);

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
			(void) lg_validate(lg_settings[i].name, lg_start_values[i]);
	lg_collecting_errors = false;
	strlcpy(lg_start_errors, lg_collected_errors, sizeof(lg_start_errors));
	lg_start_load_time = PgReloadTime;

	if (lg_start_errors[0] != '\0')
		lg_warn_report_only(lg_start_errors);
}

void
lg_define_settings(void)
{
	lg_settings_build();
	if (process_shared_preload_libraries_in_progress && !IsUnderPostmaster)
		lg_note_start_values();

	DefineCustomEnumVariable("leakguard.mode",
							 "Whether leakguard terminates sessions (enforce), only reports them (dry_run), or does nothing (off).",
							 NULL,
							 &lg_guc_mode,
							 LG_MODE_ENFORCE,
							 lg_mode_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	/* The settings of each kind of limit, as its row of lg_kinds[] says. */
	for (int k = 0; k < LG_NUM_KINDS; k++)
	{
		const LeakguardKindDef *kind = &lg_kinds[k];

		if (kind->default_guc != NULL)
			DefineCustomIntVariable(kind->default_guc,
									kind->default_desc,
									kind->default_long,
									&lg_guc_kind_limit[k],
									0,
									0, kind->default_max,
									PGC_SIGHUP,
									kind->default_unit,
									NULL, NULL, NULL);
		if (kind->rules_guc != NULL)
			DefineCustomStringVariable(kind->rules_guc,
									   kind->rules_desc,
									   kind->rules_long,
									   &lg_guc_kind_rules[k],
									   "",
									   PGC_SIGHUP,
									   0,
									   lg_kind_check_hooks[k],
									   NULL,
									   NULL);
	}

	DefineCustomIntVariable("leakguard.naptime",
							"Longest sleep of the leakguard worker between two scans.",
							"The worker also wakes at the next known deadline.",
							&lg_guc_naptime_ms,
							1000,
							10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("leakguard.exempt_roles",
							   "Roles whose sessions leakguard never terminates.",
							   NULL,
							   &lg_guc_exempt_roles,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   lg_check_exempt_roles,
							   NULL,
							   NULL);

	DefineCustomBoolVariable("leakguard.terminate_superusers",
							 "Whether superuser sessions are terminated; otherwise they are only reported.",
							 NULL,
							 &lg_guc_terminate_superusers,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("leakguard.connection_warning",
							"Share of max_connections, in percent, at which leakguard logs a warning; 0 disables it.",
							NULL,
							&lg_guc_connection_warning,
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
							1, LG_MAX_APPLICATIONS_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("leakguard.history_size",
							"Number of terminations kept in leakguard.terminations.",
							"Refused connections are kept in a ring of the same size of their own.",
							&lg_history_size,
							1000,
							1, LG_HISTORY_SIZE_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("leakguard.max_sources",
							"Number of leak sources (application, role, database, kind and statement) kept in leakguard.leak_sources.",
							"When full, the least recently seen source makes room; 0 records none.",
							&lg_max_sources,
							1000,
							0, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	if (!IsUnderPostmaster)
		lg_start_checks();
}
