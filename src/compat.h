/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL-version-dependent construct leakguard uses.
 *
 * leakguard is built and tested against PostgreSQL 15.  The shims below keep
 * the code base compiling against 13 to 17; everything that differs between
 * versions is named here and nowhere else, so a port touches one file.
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_COMPAT_H
#define LEAKGUARD_COMPAT_H

#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/backend_status.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 130000
#error "leakguard requires PostgreSQL 13 or later"
#endif

/*
 * Slots in the backend status array: one per backend, then one per auxiliary
 * process.  The worker attaches to the array by its shared-memory name, so
 * this must match backend_status.c exactly.
 */
#define LG_STATUS_ARRAY_NAME	"Backend Status Array"
#if PG_VERSION_NUM >= 170000
#define LG_STATUS_SLOTS			(MaxBackends + NUM_AUXILIARY_PROCS)
#else
#define LG_STATUS_SLOTS			(MaxBackends + NUM_AUXPROCTYPES)
#endif

/* The status-array slot of the current backend (0-based). */
#if PG_VERSION_NUM >= 170000
#define LG_MY_STATUS_SLOT()		(MyProcNumber)
#else
#define LG_MY_STATUS_SLOT()		(MyBackendId - 1)
#endif

/* Reader-side snapshot of the status array, indexed from 1. */
#if PG_VERSION_NUM >= 160000
#define lg_local_beentry(i)		pgstat_get_local_beentry_by_index(i)
#else
#define lg_local_beentry(i)		pgstat_fetch_stat_local_beentry(i)
#endif

/* Materialized set-returning functions. */
#if PG_VERSION_NUM >= 150000
#define lg_init_srf(fcinfo)		InitMaterializedSRF((fcinfo), 0)
#else
extern void lg_init_srf(FunctionCallInfo fcinfo);
#define LG_NEED_INIT_SRF
#endif

/* Reserve the "leakguard." GUC prefix. */
#if PG_VERSION_NUM >= 150000
#define lg_reserve_guc_prefix(p)	MarkGUCPrefixReserved(p)
#else
#define lg_reserve_guc_prefix(p)	EmitWarningsOnPlaceholders(p)
#endif

/*
 * Shared-memory requests: a hook from 15 on, directly in _PG_init before.
 * Before 15, _PG_init runs before MaxBackends is computed, so the size is
 * computed the way InitializeMaxBackends() will.
 */
#if PG_VERSION_NUM >= 150000
#define LG_HAVE_SHMEM_REQUEST_HOOK
#define LG_MAX_BACKENDS()		(MaxBackends)
#else
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#define LG_MAX_BACKENDS()		(MaxBackends > 0 ? MaxBackends : \
								 MaxConnections + autovacuum_max_workers + 1 + \
								 max_worker_processes + max_wal_senders)
#endif

/* String-keyed dynahash tables. */
#if PG_VERSION_NUM >= 140000
#define LG_HASH_STRINGS			HASH_STRINGS
#else
#define LG_HASH_STRINGS			0
#endif

/*
 * GUC "extra" blocks: plain malloc() up to 15, guc_malloc() (released with
 * guc_free()) from 16 on.  The rule and role-list blocks hold offsets, never
 * pointers, so a byte copy is a faithful move.
 */
#if PG_VERSION_NUM >= 160000
static inline void *
lg_guc_extra(void *malloced, size_t size)
{
	void	   *copy = guc_malloc(LOG, size);

	if (copy != NULL)
		memcpy(copy, malloced, size);
	free(malloced);
	return copy;
}
#else
#define lg_guc_extra(malloced, size)	(malloced)
#endif

/* Timed condition-variable sleep appeared in 14. */
#if PG_VERSION_NUM < 140000
#define ConditionVariableTimedSleep(cv, ms, info) \
	(ConditionVariableSleep((cv), (info)), false)
#endif

#endif							/* LEAKGUARD_COMPAT_H */
