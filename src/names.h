/*-------------------------------------------------------------------------
 *
 * names.h
 *		The worker's cache of role and database names (names.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_NAMES_H
#define LEAKGUARD_NAMES_H

/* names.c */
extern void lg_names_init(void);
extern const char *lg_role_name(Oid roleid, char *dst);
extern const char *lg_database_name(Oid dbid, char *dst);
extern void lg_names_refresh(int64 now_us);
extern uint64 lg_names_generation;

#endif							/* LEAKGUARD_NAMES_H */
