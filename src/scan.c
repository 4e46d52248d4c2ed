/*-------------------------------------------------------------------------
 *
 * scan.c
 *		Read backend states straight from the backend status array.
 *
 * This is the worker's hot path.  pg_stat_activity (and the pgstat_fetch_*
 * API) first copies every slot of the array, with its application name,
 * host name and up to track_activity_query_size bytes of query text, into
 * freshly allocated memory.  The worker does not need that: it attaches to
 * the array once by its shared-memory name and, each scan, copies a few
 * fixed-size fields of each slot into a caller-provided struct, with no
 * allocation, no SQL and no catalog access.  The query text (up to its
 * NUL, never beyond) and client address are copied only for a session about
 * to be terminated.
 *
 * Shared state: the backend status array, read without locks following the
 * st_changecount protocol described in utils/backend_status.h: note the
 * count, copy, re-read the count, and retry unless it was even and
 * unchanged.  Writers never wait for readers.
 *
 *-------------------------------------------------------------------------
 */
#include "leakguard.h"

#include "storage/shmem.h"

static PgBackendStatus *lg_status_array = NULL;

/*
 * Attach to the backend status array.  Worker only, once at start, after
 * its own entry exists.  ShmemInitStruct() creates what it does not find,
 * so the array is accepted only if it holds this very process (see
 * compat.h); returns false otherwise.
 */
bool
lg_status_attach(void)
{
	bool		found;
	volatile PgBackendStatus *mine;

	lg_status_array = ShmemInitStruct(LG_STATUS_ARRAY_NAME,
									  mul_size(sizeof(PgBackendStatus),
											   LG_STATUS_SLOTS),
									  &found);
	mine = &lg_status_array[LG_MY_STATUS_SLOT()];
	if (!found || mine->st_procpid != MyProcPid ||
		mine->st_proc_start_timestamp != MyStartTimestamp)
	{
		lg_status_array = NULL;
		return false;
	}
	return true;
}

/*
 * One consistent read of status slot "slot" (0-based, < MaxBackends).
 * Returns false when the slot is unused.  With a query buffer (of
 * LG_QUERY_TEXT_LEN bytes), also copies the client address and the start of
 * the last statement.
 */
static bool
lg_status_read_internal(int slot, LeakguardBackend *b,
						SockAddr *client_addr, char *query)
{
	volatile PgBackendStatus *be = &lg_status_array[slot];

	for (;;)
	{
		int			before;
		int			after;

		pgstat_begin_read_activity(be, before);

		b->pid = be->st_procpid;
		if (b->pid > 0)
		{
			b->type = be->st_backendType;
			b->state = be->st_state;
			b->proc_start = be->st_proc_start_timestamp;
			b->xact_start = be->st_xact_start_timestamp;
			b->activity_start = be->st_activity_start_timestamp;
			b->state_start = be->st_state_start_timestamp;
			b->datid = be->st_databaseid;
			b->userid = be->st_userid;
			if (b->type == B_BACKEND)
			{
				memcpy(b->appname, (char *) be->st_appname, NAMEDATALEN);
				if (query != NULL)
				{
					int			len = Min(pgstat_track_activity_query_size,
										  LG_QUERY_TEXT_LEN);
					int			n = 0;

					memcpy(client_addr, (SockAddr *) &be->st_clientaddr,
						   sizeof(SockAddr));

					/*
					 * Up to the terminating NUL only: the bytes after it
					 * are left from earlier, longer statements, possibly
					 * of another session that used this slot.  A retried
					 * read may be shorter than the first, so clear the
					 * rest.
					 */
					while (n < len - 1 && (query[n] = be->st_activity_raw[n]) != '\0')
						n++;
					memset(query + n, 0, LG_QUERY_TEXT_LEN - n);
				}
			}
		}

		pgstat_end_read_activity(be, after);
		if (pgstat_read_activity_complete(before, after))
			break;
		CHECK_FOR_INTERRUPTS();
	}

	b->appname[NAMEDATALEN - 1] = '\0';
	return b->pid > 0;
}

bool
lg_status_read(int slot, LeakguardBackend *b)
{
	return lg_status_read_internal(slot, b, NULL, NULL);
}

bool
lg_status_read_full(int slot, LeakguardBackend *b,
					SockAddr *client_addr, char *query)
{
	return lg_status_read_internal(slot, b, client_addr, query);
}

bool
lg_state_idle_in_xact(BackendState state)
{
	return state == STATE_IDLEINTRANSACTION ||
		state == STATE_IDLEINTRANSACTION_ABORTED;
}
