/*-------------------------------------------------------------------------
 *
 * hooks.h
 *		The hooks leakguard installs in client backends: episodes (episodes.c)
 *		and the victim's FATAL message (report.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_HOOKS_H
#define LEAKGUARD_HOOKS_H

#include "datatype/timestamp.h"

/* episodes.c */
extern void lg_install_episode_hooks(void);
extern void lg_episodes_fold_all(TimestampTz now);
extern void lg_block_begun(void);

/* report.c */
extern void lg_install_log_hook(void);

#endif							/* LEAKGUARD_HOOKS_H */
