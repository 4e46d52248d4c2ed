/*-------------------------------------------------------------------------
 *
 * policy.h
 *		The worker's view of the policy: the mode it acts in, and what a
 *		reload must change for reported sessions to be re-examined
 *		(policy.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_POLICY_H
#define LEAKGUARD_POLICY_H

#include "kinds.h"

/*
 * What a reload must change for sessions already reported to be
 * re-examined: the mode, the exemptions, and the limits of every kind on
 * sessions.
 */
typedef struct LgPolicy
{
	int			mode;
	bool		terminate_superusers;
	char	   *exempt_roles;
	int			default_limit[LG_NUM_KINDS];
	char	   *rules[LG_NUM_KINDS];
} LgPolicy;

extern void lg_policy_set_unsafe(bool unsafe);
extern int	lg_effective_mode(void);
extern void lg_policy_save(LgPolicy *p);
extern bool lg_policy_changed(const LgPolicy *p);
#ifdef LG_FAULT_RELOAD_PAUSE
extern void lg_fault_reload_pause(void);
#endif

#endif							/* LEAKGUARD_POLICY_H */
