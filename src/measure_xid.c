/*-------------------------------------------------------------------------
 *
 * measure_xid.c
 *		The limits measured in transactions (xmin): the age of a session's
 *		snapshot or transaction ID, read at every scan.
 *
 * A limit measured in transactions is no deadline: the status slot of a
 * session idle in transaction does not change while other sessions consume
 * transaction IDs, so the worker reads the xmin age of the sessions it
 * watches (tracker.c sets their bit in lg_tracker.xid_watch) at every
 * scan, changed or not; the re-check before the signal is terminate.c's.
 *
 * Shared state: reads the PGPROCs' xmin and xid through scan.c (no lock
 * unless scan.c says so); the rest is the worker's local lg_tracker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "kinds.h"
#include "measure.h"
#include "scan.h"
#include "tracker.h"

#include "access/transam.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"

/*
 * Add to the n candidates the sessions past a limit measured in
 * transactions (lg_tracker.xid_watch): the status slot of a session idle in
 * transaction does not change while other sessions consume transaction
 * IDs, so its xmin and xid are read at every scan.  Nothing is read, and
 * no lock taken, when no session is watched.  Returns the new count.
 */
int
lg_xid_age_due(int n)
{
	bool		horizon_read = false;
	TransactionId next_xid = InvalidTransactionId;

	for (int w = 0; w < (MaxBackends + 31) / 32; w++)
	{
		uint32		bits = lg_tracker.xid_watch[w];

		while (bits != 0)
		{
			int			slot = w * 32 + pg_rightmost_one_pos32(bits);
			LgSlot	   *s = &lg_tracker.slots[slot];

			bits &= bits - 1;
			if (lg_tracker.counts[slot] == -1 || s->pid == 0)
				continue;		/* a candidate already, or gone */
			for (int k = 0; k < LG_NUM_KINDS; k++)
			{
				if (lg_kinds[k].measure != LG_MEASURE_XID_AGE ||
					!s->periods[k].active || s->periods[k].reported ||
					s->limits[k].value <= 0)
					continue;
				/* the horizon only when it may be past its limit */
				if (!TransactionIdIsValid(next_xid))
					next_xid = XidFromFullTransactionId(ReadNextFullTransactionId());
				if (lg_backend_xid_age_bound(slot, s->pid, next_xid) <=
					s->limits[k].value)
					continue;
				if (!horizon_read)
				{
					lg_xid_horizon_read();
					horizon_read = true;
				}
				if (lg_backend_xid_age(slot, s->pid, false) > s->limits[k].value)
				{
					n = lg_add_candidate(n, slot, k);
					break;
				}
			}
		}
	}
	return n;
}
