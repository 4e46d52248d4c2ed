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
 * NUL, never beyond), its query id and the client address are copied only
 * for a session about to be terminated.
 *
 * Most slots do not change between two scans (sessions that stay idle), so
 * a read also returns the slot's st_changecount, and lg_status_changed()
 * tells from that one integer whether the slot was written since: the
 * worker reads the rest of a slot only when it was.
 *
 * A scan looks only at the slots that may hold a client backend: each
 * backend sets its slot's bit in a bitmap of leakguard's (ClientAuthentication
 * hook, so client backends and walsenders) and clears it when it exits; the
 * worker adds the slots where it still follows a backend (one that cleared
 * its bit may not have left its slot yet).  Unused slots and those of other
 * processes are never read.
 *
 * For the limits measured in transactions, lg_backend_xid_age() reads a
 * backend's xmin and xid from its PGPROC against the next transaction ID,
 * and counts what the backend alone holds back: its xid, and its xmin only
 * if no other running transaction is as old (lg_xid_horizon_read() reads
 * every PGPROC's xid once per scan, without a lock).
 *
 * Shared state: the client-slot bitmap, atomic words written by backends
 * (their own bit only) and read by the worker, no lock.  The backend
 * status array, read without locks following the
 * st_changecount protocol described in utils/backend_status.h: note the
 * count, copy, re-read the count, and retry unless it was even and
 * unchanged.  Writers never wait for readers.  Every write to a slot,
 * from the backend's start to its exit, goes through that protocol, so an
 * even count equal to the one of an earlier consistent read means the slot
 * still holds what that read saw.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "leakguard.h"
#include "scan.h"

#include "access/transam.h"
#include "libpq/auth.h"
#include "port/pg_bitutils.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

static PgBackendStatus *lg_status_array = NULL;

/* One bit per status slot below MaxBackends: a client backend may be there. */
static pg_atomic_uint32 *lg_client_bits = NULL;

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;

#define LG_CLIENT_WORDS		((MaxBackends + 31) / 32)

/* How many slots ahead lg_status_changed() starts loading. */
#define LG_PREFETCH_AHEAD	8
#if defined(__GNUC__) || defined(__clang__)
#define lg_prefetch(p)		__builtin_prefetch(p)
#else
#define lg_prefetch(p)		((void) 0)
#endif

/* Shared memory of the client-slot bitmap; from shmem_request_hook. */
Size
lg_client_slots_size(void)
{
	return mul_size(LG_CLIENT_WORDS, sizeof(pg_atomic_uint32));
}

/* Attach to, or create, the bitmap; from shmem_startup_hook. */
void
lg_client_slots_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	lg_client_bits = ShmemInitStruct("leakguard client slots",
									 lg_client_slots_size(), &found);
	if (!found)
		for (int i = 0; i < LG_CLIENT_WORDS; i++)
			pg_atomic_init_u32(&lg_client_bits[i], 0);
	LWLockRelease(AddinShmemInitLock);
}

static void
lg_client_slot_clear(int code, Datum arg)
{
	int			slot = DatumGetInt32(arg);

	pg_atomic_fetch_and_u32(&lg_client_bits[slot / 32],
							~((uint32) 1 << (slot % 32)));
}

/*
 * Every client backend passes here once, before it runs a statement.  Its
 * status slot is filled before this (18) or after (15 to 17): either way
 * that write moves the slot's change count, which the worker sees.  The
 * bit is cleared at exit, before the status slot is (before_shmem_exit
 * callbacks run before the on_shmem_exit one that clears the slot).
 */
static void
lg_client_slot_auth_hook(Port *port, int status)
{
	int			slot = LG_MY_STATUS_SLOT();

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
	if (lg_client_bits == NULL || slot < 0 || slot >= MaxBackends)
		return;
	before_shmem_exit(lg_client_slot_clear, Int32GetDatum(slot));
	pg_atomic_fetch_or_u32(&lg_client_bits[slot / 32], (uint32) 1 << (slot % 32));
}

void
lg_install_client_slots_hook(void)
{
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = lg_client_slot_auth_hook;
}

/*
 * The slots to read, in ascending order: those whose bit a backend set,
 * and those of "following", the worker's own bitmap of slots where it saw
 * a client backend.  Returns how many were written to "slots".
 */
int
lg_client_slots(const uint32 *following, int *slots)
{
	int			n = 0;

	for (int w = 0; w < LG_CLIENT_WORDS; w++)
	{
		uint32		bits = pg_atomic_read_u32(&lg_client_bits[w]) | following[w];

		while (bits != 0)
		{
			slots[n++] = w * 32 + pg_rightmost_one_pos32(bits);
			bits &= bits - 1;
		}
	}
	return n;
}

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
			b->query_id = 0;
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
					b->query_id = (int64) be->st_query_id;

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
		{
			b->changecount = before;
			break;
		}
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

/*
 * Of the n status slots in "slots", those written since the consistent read
 * that returned counts[slot] (odd: read it again anyway); returns how many
 * were written to "changed".  One load per slot: no barrier is needed, since
 * a count still equal to the old one means that no write has become visible
 * yet, which is what a read a moment earlier would have seen.  The count
 * wraps around, but not within the interval between two scans.  The slots
 * are spread over the array, a cache line each: the loads of the next ones
 * are started early.
 */
int
lg_status_changed(const int *slots, int n, const int *counts, int *changed)
{
	int			nchanged = 0;

	for (int i = 0; i < n; i++)
	{
		int			slot = slots[i];
		volatile PgBackendStatus *be = &lg_status_array[slot];
		int			now;

		if (i + LG_PREFETCH_AHEAD < n)
			lg_prefetch(&lg_status_array[slots[i + LG_PREFETCH_AHEAD]].st_changecount);
		now = be->st_changecount;
		if (now != counts[slot] || (now & 1) != 0)
			changed[nchanged++] = slot;
	}
	return nchanged;
}

/*
 * The next transaction ID, and the two oldest transaction IDs of running
 * transactions, as lg_xid_horizon_read() last read them.
 */
static TransactionId lg_next_xid = InvalidTransactionId;
static TransactionId lg_oldest_xid = InvalidTransactionId;
static TransactionId lg_second_xid = InvalidTransactionId;

/*
 * Read the next transaction ID, the reference of lg_backend_xid_age(): on a
 * primary the next to be assigned, on a standby the one after the newest it
 * has replayed (recovery advances it).  Takes XidGenLock shared: once per
 * scan, and only when some session is measured in transactions.  Then the
 * transaction IDs of every PGPROC (backends and prepared transactions),
 * without a lock: each is one aligned word, cleared under ProcArrayLock at
 * commit; one read a moment old can only miss a transaction that has just
 * ended (a session's snapshot is then judged its own one scan later) or
 * one that has just begun (younger than any snapshot already taken).
 */
void
lg_xid_horizon_read(void)
{
	lg_next_xid = XidFromFullTransactionId(ReadNextFullTransactionId());
	lg_oldest_xid = InvalidTransactionId;
	lg_second_xid = InvalidTransactionId;
	for (uint32 i = 0; i < ProcGlobal->allProcCount; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		TransactionId xid = *(volatile TransactionId *) &proc->xid;

		if (!TransactionIdIsNormal(xid))
			continue;
		if (!TransactionIdIsValid(lg_oldest_xid) ||
			TransactionIdPrecedes(xid, lg_oldest_xid))
		{
			lg_second_xid = lg_oldest_xid;
			lg_oldest_xid = xid;
		}
		else if (!TransactionIdIsValid(lg_second_xid) ||
				 TransactionIdPrecedes(xid, lg_second_xid))
			lg_second_xid = xid;
	}
}

/*
 * How many transactions of the xmin horizon the backend in status slot
 * "slot" with pid "pid" holds back by itself, against the next transaction
 * ID last read: the age of its own transaction ID, and of its snapshot
 * (xmin) if that is older than the transaction ID of every other running
 * transaction; 0 when it has neither, or is gone.  A snapshot's xmin is
 * the oldest transaction running when it was taken: while that
 * transaction runs, it is what holds the horizon, and ending the sessions
 * whose snapshots wait for it would free nothing.  Once it has ended, the
 * snapshots older than every running transaction hold the horizon
 * themselves.  Reads the PGPROC's xmin and xid without a lock (each is one
 * aligned word): a value a moment old, which the final re-check, under
 * ProcArrayLock ("locked"), reads again.  Finding the PGPROC costs one
 * read from 17 on, and one shared acquisition of SInvalWriteLock in 15 and
 * 16 (lg_slot_proc(), compat.h).
 */
int64
lg_backend_xid_age(int slot, int pid, bool locked)
{
	PGPROC	   *proc = lg_slot_proc(slot, pid, locked);

	if (proc == NULL)
		return 0;
	return lg_xid_judged_age(*(volatile TransactionId *) &proc->xid,
							 *(volatile TransactionId *) &proc->xmin);
}

/*
 * The age lg_backend_xid_age() judges, of a backend whose transaction ID
 * and xmin are these, against the horizon last read (lg_xid_horizon_read()):
 * also what leakguard.sessions shows as the xmin limit's deadline.
 */
int64
lg_xid_judged_age(TransactionId xid, TransactionId xmin)
{
	TransactionId others;
	int64		age = 0;

	if (!TransactionIdIsNormal(lg_next_xid))
		return 0;
	/* the oldest running xid but its own (xids are unique) */
	others = (TransactionIdIsNormal(xid) && xid == lg_oldest_xid) ?
		lg_second_xid : lg_oldest_xid;
	if (TransactionIdIsNormal(xid) && TransactionIdPrecedes(xid, lg_next_xid))
		age = (int64) (uint32) (lg_next_xid - xid);
	if (TransactionIdIsNormal(xmin) && TransactionIdPrecedes(xmin, lg_next_xid) &&
		(!TransactionIdIsValid(others) || TransactionIdPrecedes(xmin, others)))
		age = Max(age, (int64) (uint32) (lg_next_xid - xmin));
	return age;
}

/*
 * An upper bound of lg_backend_xid_age(), against next_xid (the next
 * transaction ID, read once per scan by the caller): the age of the older of its xid and xmin, whatever the other
 * running transactions.  Costs no pass over the proc array, so a scan
 * reads the horizon (lg_xid_horizon_read(), a pass over every PGPROC) only
 * when some watched session may be past its limit.  Read without a lock.
 */
int64
lg_backend_xid_age_bound(int slot, int pid, TransactionId next)
{
	PGPROC	   *proc = lg_slot_proc(slot, pid, false);
	TransactionId xmin;
	TransactionId xid;
	int64		age = 0;

	if (proc == NULL || !TransactionIdIsNormal(next))
		return 0;
	xmin = *(volatile TransactionId *) &proc->xmin;
	xid = *(volatile TransactionId *) &proc->xid;
	if (TransactionIdIsNormal(xid) && TransactionIdPrecedes(xid, next))
		age = (int64) (uint32) (next - xid);
	if (TransactionIdIsNormal(xmin) && TransactionIdPrecedes(xmin, next))
		age = Max(age, (int64) (uint32) (next - xmin));
	return age;
}

/*
 * Whether the backend in status slot "slot" with pid "pid" holds back the
 * xmin horizon: it has a snapshot (xmin) or a transaction ID.  Read
 * without a lock, as lg_backend_xid_age() reads.  For a session idle in
 * transaction, read once it is seen idle: neither can appear before its
 * next statement.
 */
bool
lg_backend_holds_horizon(int slot, int pid)
{
	PGPROC	   *proc = lg_slot_proc(slot, pid, false);

	return proc != NULL &&
		(TransactionIdIsValid(*(volatile TransactionId *) &proc->xmin) ||
		 TransactionIdIsValid(*(volatile TransactionId *) &proc->xid));
}

bool
lg_state_idle_in_xact(BackendState state)
{
	return state == STATE_IDLEINTRANSACTION ||
		state == STATE_IDLEINTRANSACTION_ABORTED;
}
