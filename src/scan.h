/*-------------------------------------------------------------------------
 *
 * scan.h
 *		Reading the backend status array (scan.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_SCAN_H
#define LEAKGUARD_SCAN_H

#include "libpq/pqcomm.h"
#include "utils/backend_status.h"

/* One consistent read of a backend status slot (scan.c). */
typedef struct LeakguardBackend
{
	int			pid;			/* 0: slot unused */
	BackendType type;
	BackendState state;
	TimestampTz proc_start;
	TimestampTz xact_start;
	TimestampTz activity_start;	/* start of the last statement */
	TimestampTz state_start;
	Oid			datid;
	Oid			userid;
	char		appname[NAMEDATALEN];	/* client backends only */
	int64		query_id;		/* of the last statement, 0: none computed;
								 * full reads only (lg_status_read_full) */
	int			changecount;	/* st_changecount the read was made at */
} LeakguardBackend;

/* scan.c */
extern bool lg_status_attach(void);
extern bool lg_status_read(int slot, LeakguardBackend *b);
extern int	lg_status_changed(const int *slots, int n, const int *counts,
							  int *changed);
extern Size lg_client_slots_size(void);
extern void lg_client_slots_init(void);
extern void lg_install_client_slots_hook(void);
extern int	lg_client_slots(const uint32 *following, int *slots);
extern bool lg_status_read_full(int slot, LeakguardBackend *b,
								SockAddr *client_addr, char *query);
extern bool lg_state_idle_in_xact(BackendState state);
extern void lg_xid_horizon_read(void);
extern int64 lg_backend_xid_age(int slot, int pid, bool locked);
extern int64 lg_backend_xid_age_bound(int slot, int pid,
									  TransactionId next_xid);
extern int64 lg_xid_judged_age(TransactionId xid, TransactionId xmin);
extern bool lg_backend_holds_horizon(int slot, int pid);

#endif							/* LEAKGUARD_SCAN_H */
