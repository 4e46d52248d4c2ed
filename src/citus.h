/*-------------------------------------------------------------------------
 *
 * citus.h
 *		Citus's internal connections (citus.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_CITUS_H
#define LEAKGUARD_CITUS_H

/* The kinds of Citus internal connection (citus.c). */
typedef enum LeakguardCitusKind
{
	LG_CITUS_NONE,				/* not one, or Citus is not loaded */
	LG_CITUS_INTERNAL,			/* "citus_internal gpid=N" */
	LG_CITUS_REBALANCER,		/* "citus_rebalancer gpid=N" */
	LG_CITUS_RUN_COMMAND		/* "citus_run_command gpid=N" */
} LeakguardCitusKind;

#define LG_CITUS_LAST			LG_CITUS_RUN_COMMAND

/* citus.c */
extern bool lg_citus_loaded;
extern void lg_citus_detect(void);
extern LeakguardCitusKind lg_citus_kind(const char *appname);
extern const char *lg_citus_stats_name(const char *appname, char *buf);
extern bool lg_citus_stats_row(const char *name);

#endif							/* LEAKGUARD_CITUS_H */
