/*-------------------------------------------------------------------------
 *
 * settings.h
 *		leakguard's settings and the policy in force (settings.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SETTINGS_H
#define LEAKGUARD_SETTINGS_H

#include "kinds.h"
#include "leakguard.h"
#include "rules.h"

typedef enum LeakguardMode
{
	LG_MODE_ENFORCE,
	LG_MODE_DRY_RUN,
	LG_MODE_OFF
} LeakguardMode;

/* settings.c */
extern int	lg_mode;
extern int	lg_kind_limit[LG_NUM_KINDS];
extern char *lg_kind_rules_text[LG_NUM_KINDS];
extern const LeakguardRuleSet *lg_kind_rules[LG_NUM_KINDS];
extern int	lg_naptime_ms;
extern char *lg_exempt_roles;
extern bool lg_terminate_superusers;
extern int	lg_connection_warning;
extern int	lg_max_applications;
extern int	lg_history_size;

/* The upper bounds of leakguard.max_applications and history_size. */
#define LG_MAX_APPLICATIONS_MAX		100000
#define LG_HISTORY_SIZE_MAX			100000
extern bool lg_save_stats;
extern int	lg_max_sources;
extern char lg_start_errors[LG_CONFIG_ERROR_LEN];
extern TimestampTz lg_start_load_time;
extern void lg_define_settings(void);
extern bool lg_role_name_exempt(const char *rolname);
extern const char *lg_mode_name(int mode);
extern char **lg_settings_save(void);
extern bool lg_config_start(bool *taken_up);
extern bool lg_config_judge(char **saved);
extern void lg_policy_init(void);
extern void lg_policy_refresh(void);
extern int	lg_backend_mode(void);
extern int	lg_backend_mode_applied(void);
extern char *lg_policy_text(void);

#endif							/* LEAKGUARD_SETTINGS_H */
