/*-------------------------------------------------------------------------
 *
 * episodes.c
 *		Each client backend records its own finished idle periods and
 *		transactions, for the histograms of the statistics.
 *
 * The worker's scans see a state that lasts shorter than the scan interval
 * only by chance, and long ones always: counted from scans, the histograms
 * would miss short episodes and lean toward long ones.  So each backend
 * records every episode it ends, where it already runs code:
 *
 *	- a transaction, in a transaction callback at commit, abort or prepare:
 *	  from xact_start to its end;
 *	- an idle-in-transaction period, when the next statement starts (the
 *	  executor and utility hooks): the growth of the backend's own
 *	  idle-in-transaction time counter (compat.h), which
 *	  pgstat_report_activity() has just grown by exactly that period;
 *	- an idle period (no transaction open), when the first statement after
 *	  a transaction end starts: from that end to the statement's start;
 *	- a statement (the statement limit's periods: from query_start), when
 *	  the next one starts, from what is known then without reading a
 *	  clock: it ended when its transaction did, if that ended since, else
 *	  when the idle-in-transaction period that the next statement ends
 *	  began (the next start less that period); at exit, when the session
 *	  went idle (its status entry says when).  A message of several
 *	  statements, which share a start, is one statement, as query_start
 *	  measures it.  Statements shorter than 1 ms are not counted
 *	  (LG_STATEMENT_MIN_US).
 *
 *	- the idle or idle-in-transaction period a session is in when it ends
 *	  (it disconnects, or the worker terminates it), at exit, from its own
 *	  backend status entry.
 *
 * The worker records none of these, so no period is counted twice.  A
 * period followed by a statement that fails before it reaches the executor
 * (a syntax error) is merged with the next one or, outside a transaction,
 * lost.
 *
 * Recording costs a backend no lock: it adds one to a bucket of its own
 * slot in shared memory (LeakguardEpisodeSlot, one per backend slot),
 * notes the bucket in the short list of latest records in the slot's head
 * (LeakguardEpisodeHead), then bumps the head's change counter after a
 * write barrier, and sets the slot's bit in a bitmap of slots with records
 * not yet folded (episode_pending) unless it is set already.  At each scan
 * the worker folds into the statistics entry of the slot's application what
 * each slot whose bit it finds set gained since the last fold
 * (lg_episodes_fold_all()), so a fold costs the slots that changed, not
 * MaxBackends.  A slot is folded from the list when it still holds every
 * record since then, which costs one step per record, else by comparing
 * every bucket with what was folded.
 * Counts only grow (modulo 2^32): a slot keeps them from one backend to
 * the next, and what is folded is the difference to what was folded
 * before, so nothing is reset and nothing can be counted twice.  A backend
 * whose application_name is not the one its slot's counts belong to (a new
 * backend in the slot, or SET application_name) first folds what is left
 * under the old name itself, under the lock: once per connection and
 * change of name, never per statement.  The statistics entry a fold makes
 * belongs to the login role of the backend that took the name (shmem.c
 * says why that matters).
 *
 * The largest value of each histogram is known from the folded buckets
 * only: the top of the highest one, at most 12.5% above the exact value.
 *
 * Shared state: in a LeakguardEpisodeSlot and its head, the counts, the
 * list and the change counter are written by the owning backend only, without a lock (a
 * reader reads the counter, then a read barrier, then the counts or the
 * list; each is an aligned word, read whole; the list is trusted only if,
 * read again after it, the counter shows that no entry read was
 * overwritten meanwhile); seen, seen_changes, entry, entry_generation,
 * appname and userid are
 * written under LeakguardShared->lock exclusive (appname by the owner,
 * which may read it without the lock).  The words of episode_pending are
 * atomic: the owner sets its bit after bumping the counter, with a full
 * barrier between the two, so that a bit it finds set is cleared only
 * after the counter it bumped can be read; the fold takes a word's bits
 * and clears them in one exchange (a full barrier too) before it reads
 * those slots' counters, under LeakguardShared->lock exclusive.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "histogram.h"
#include "hooks.h"
#include "kinds.h"
#include "scan.h"
#include "shmem.h"
#include "stats.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "libpq/auth.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static ClientAuthentication_hook_type prev_ClientAuthentication = NULL;

/* The idle-in-transaction time counter at the last statement start. */
static int64 lg_idle_counter = 0;

/* The counter may have been reset (a transaction ended): take it anew. */
static bool lg_idle_counter_stale = true;

/* When the last transaction ended, if no statement started since; or 0. */
static TimestampTz lg_xact_ended_at = 0;

/* The start of the statement last started, or 0. */
static TimestampTz lg_stmt_start = 0;

/* This backend's slot, or -1 when it records nothing. */
static int
lg_my_episode_slot(void)
{
	int			slot;

	if (MyBackendType != B_BACKEND || lg_shared == NULL ||
		!IsNormalProcessingMode())
		return -1;
	slot = LG_MY_STATUS_SLOT();
	if (slot < 0 || slot >= MaxBackends)
		return -1;
	return slot;
}

/*
 * Add what a slot gained since the last fold to the statistics entry of
 * its application.  LeakguardShared->lock held exclusive.
 */
static void
lg_episodes_fold(int i, TimestampTz now)
{
	LeakguardEpisodeHead *head = &lg_shared->episode_heads[i].head;
	LeakguardEpisodeSlot *slot = &lg_shared->episodes[i];
	uint32		changes = pg_atomic_read_u32(&head->changes);
	LeakguardAppStats *entry;
	int			k;
	int			b;

	if (changes == head->seen_changes)
		return;
	pg_read_barrier();
	if (head->entry == NULL ||
		head->entry_generation != lg_shared->stats_generation)
	{
		head->entry = lg_stats_entry(slot->appname, slot->userid, now);
		head->entry_generation = lg_shared->stats_generation;
	}
	else if (head->entry != &lg_shared->overflow)
	{
		LeakguardAppEntry *e = (LeakguardAppEntry *) head->entry;

		e->last_seen = Max(e->last_seen, now);
	}
	entry = head->entry;

	/*
	 * Record n is overwritten in the list by record n + LG_EPISODE_RING,
	 * written only after changes reached n + LG_EPISODE_RING - 1: if the
	 * counter read after the list is below seen + LG_EPISODE_RING, every
	 * entry read was the one wanted.
	 */
	if (changes - head->seen_changes < LG_EPISODE_RING)
	{
		uint16		latest[LG_EPISODE_RING];
		uint32		n = changes - head->seen_changes;
		uint32		r;

		for (r = 0; r < n; r++)
			latest[r] = head->ring[(head->seen_changes + 1 + r) % LG_EPISODE_RING];
		pg_read_barrier();
		if (pg_atomic_read_u32(&head->changes) - head->seen_changes < LG_EPISODE_RING)
		{
			for (r = 0; r < n; r++)
			{
				LeakguardHistogram *h;

				k = latest[r] / LG_HIST_BUCKETS;
				b = latest[r] % LG_HIST_BUCKETS;
				if (k >= LG_NUM_OBSERVED)
					continue;
				h = &entry->observed[k];
				h->buckets[b]++;
				h->count++;
				h->max_us = Max(h->max_us, lg_hist_bucket_high(b) - 1);
				slot->seen[k][b]++;
			}
			head->seen_changes = changes;
			return;
		}
	}

	for (k = 0; k < LG_NUM_OBSERVED; k++)
	{
		LeakguardHistogram *h = &entry->observed[k];

		for (b = 0; b < LG_HIST_BUCKETS; b++)
		{
			uint32		count = slot->counts[k][b];
			uint32		gained = count - slot->seen[k][b];

			if (gained == 0)
				continue;
			h->buckets[b] += gained;
			h->count += gained;
			h->max_us = Max(h->max_us, lg_hist_bucket_high(b) - 1);
			slot->seen[k][b] = count;
		}
	}
	head->seen_changes = changes;
}

/*
 * The worker, once per scan, with LeakguardShared->lock held exclusive; and
 * the postmaster before it saves the statistics, when no other process is
 * attached.
 */
void
lg_episodes_fold_all(TimestampTz now)
{
	for (int w = 0; w < (MaxBackends + 31) / 32; w++)
	{
		pg_atomic_uint32 *word = &lg_shared->episode_pending[w];
		uint32		bits;

		if (pg_atomic_read_u32(word) == 0)
			continue;
		bits = pg_atomic_exchange_u32(word, 0);
		while (bits != 0)
		{
			lg_episodes_fold(w * 32 + pg_rightmost_one_pos32(bits), now);
			bits &= bits - 1;
		}
	}
}

/* Record one episode in the backend's own slot. */
static void
lg_episode_record(int i, LeakguardObserved what, int64 us)
{
	LeakguardEpisodeHead *head = &lg_shared->episode_heads[i].head;
	LeakguardEpisodeSlot *slot = &lg_shared->episodes[i];
	const char *name = application_name ? application_name : "";
	int			bucket = lg_hist_bucket(us);
	uint32		n;
	pg_atomic_uint32 *pending;

	/* Counts belong to the slot's name: hand over what is left first. */
	if (strncmp(slot->appname, name, NAMEDATALEN - 1) != 0)
	{
		LWLockAcquire(lg_shared->lock, LW_EXCLUSIVE);
		lg_episodes_fold(i, GetCurrentTimestamp());
		strlcpy(slot->appname, name, NAMEDATALEN);
		slot->userid = GetSessionUserId();
		head->entry = NULL;
		LWLockRelease(lg_shared->lock);
		lg_stats_full_report();
	}

	n = pg_atomic_read_u32(&head->changes) + 1;
	slot->counts[what][bucket]++;
	head->ring[n % LG_EPISODE_RING] = (uint16) (what * LG_HIST_BUCKETS + bucket);
	pg_write_barrier();
	pg_atomic_write_u32(&head->changes, n);

	/* Ask for a fold of this slot, unless one is asked for already. */
	pg_memory_barrier();
	pending = &lg_shared->episode_pending[i / 32];
	if ((pg_atomic_read_u32(pending) & ((uint32) 1 << (i % 32))) == 0)
		pg_atomic_fetch_or_u32(pending, (uint32) 1 << (i % 32));
}

/*
 * Record the statement started at lg_stmt_start, ended at "end", if it
 * lasted LG_STATEMENT_MIN_US or more.  Shorter statements are not counted:
 * no statement limit is that short (suggestions start at 1 s), and a
 * record costs more than such a statement's share of a transaction (the
 * +1 % of make bench-kinds); so the statement histogram, and its
 * percentiles, are of the statements of 1 ms or more.
 */
#define LG_STATEMENT_MIN_US		1000

static void
lg_episodes_statement_end(int slot, TimestampTz end)
{
	if (lg_stmt_start != 0 && end - lg_stmt_start >= LG_STATEMENT_MIN_US)
		lg_episode_record(slot, LG_OBSERVED_STATEMENT, end - lg_stmt_start);
	lg_stmt_start = 0;
}

/* A statement starts: record the idle period and the statement it ends. */
static void
lg_episodes_statement(void)
{
	int			slot = lg_my_episode_slot();
	TimestampTz start;
	int64		idle;
	int64		idle_growth = 0;

	if (slot < 0)
		return;
	start = GetCurrentStatementStartTimestamp();

	/* Nested statements and later ones of a message see no growth. */
	idle = lg_txn_idle_time_us();
	if (!lg_idle_counter_stale && idle > lg_idle_counter)
		idle_growth = idle - lg_idle_counter;

	if (start != lg_stmt_start)
	{
		lg_episodes_statement_end(slot, lg_xact_ended_at != 0 ?
								  lg_xact_ended_at : start - idle_growth);
		lg_stmt_start = start;
	}
	if (lg_xact_ended_at != 0)
	{
		if (start > lg_xact_ended_at)
			lg_episode_record(slot, LG_OBSERVED_IDLE, start - lg_xact_ended_at);
		lg_xact_ended_at = 0;
	}
	if (idle_growth > 0)
		lg_episode_record(slot, LG_OBSERVED_XACT_IDLE, idle_growth);
	lg_idle_counter = idle;
	lg_idle_counter_stale = false;
}

static void
lg_episodes_xact(XactEvent event, void *arg)
{
	int			slot;
	TimestampTz end;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if ((slot = lg_my_episode_slot()) < 0)
		return;
	end = GetCurrentTransactionStopTimestamp();
	lg_episode_record(slot, LG_OBSERVED_TRANSACTION,
					  end - GetCurrentTransactionStartTimestamp());
	lg_xact_ended_at = end;
	lg_idle_counter_stale = true;
}

/* At exit: the period the session is in ends with it. */
static void
lg_episodes_exit(int code, Datum arg)
{
	int			slot = lg_my_episode_slot();
	PgBackendStatus *be = MyBEEntry;
	TimestampTz now;

	if (slot < 0 || be == NULL || be->st_state_start_timestamp == 0)
		return;
	now = GetCurrentTimestamp();
	/* the last statement: it ended when the session went idle, or now */
	lg_episodes_statement_end(slot, be->st_state == STATE_RUNNING ||
							  be->st_state == STATE_FASTPATH ?
							  now : be->st_state_start_timestamp);
	if (lg_state_idle_in_xact(be->st_state))
		lg_episode_record(slot, LG_OBSERVED_XACT_IDLE,
						  now - be->st_state_start_timestamp);
	else if (be->st_state == STATE_IDLE)
		lg_episode_record(slot, LG_OBSERVED_IDLE,
						  now - be->st_state_start_timestamp);
}

/* A client backend is authenticated: record its last period at exit. */
static void
lg_ClientAuthentication(Port *port, int status)
{
	if (prev_ClientAuthentication)
		prev_ClientAuthentication(port, status);
	if (status == STATUS_OK && lg_shared != NULL && MyBackendType == B_BACKEND)
		before_shmem_exit(lg_episodes_exit, (Datum) 0);
}

static void
lg_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	lg_episodes_statement();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
lg_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	/*
	 * Whether it begins a transaction block, for the worker
	 * (lg_block_begun()).  Decided before it runs: a COMMIT may free pstmt.
	 */
	bool		begins = false;

	if (IsA(pstmt->utilityStmt, TransactionStmt))
	{
		TransactionStmt *stmt = (TransactionStmt *) pstmt->utilityStmt;

		begins = stmt->kind == TRANS_STMT_BEGIN ||
			stmt->kind == TRANS_STMT_START ||
			((stmt->kind == TRANS_STMT_COMMIT ||
			  stmt->kind == TRANS_STMT_ROLLBACK) && stmt->chain);
	}

	lg_episodes_statement();
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	if (begins)
		lg_block_begun();
}

/* From _PG_init, when loaded through shared_preload_libraries. */
void
lg_install_episode_hooks(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = lg_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = lg_ProcessUtility;
	prev_ClientAuthentication = ClientAuthentication_hook;
	ClientAuthentication_hook = lg_ClientAuthentication;
	RegisterXactCallback(lg_episodes_xact, NULL);
}

/*
 * A session has begun a transaction block (BEGIN, START TRANSACTION,
 * COMMIT or ROLLBACK AND CHAIN), from the utility hook: if the worker
 * sleeps longer than the kinds in a block allow (block_watch), tell it.
 * Costs a full barrier and one load of a shared word, unless the worker
 * sleeps so; then the first session to begin a block swaps the word and
 * sets the worker's latch.  worker_latch is read without the lock: it is
 * an aligned pointer into a PGPROC, whose memory outlives any process, and
 * setting the latch of a worker that just exited wakes at worst another
 * process for nothing.
 */
void
lg_block_begun(void)
{
	Latch	   *latch;

	if (lg_shared == NULL || MyBackendType != B_BACKEND ||
		!IsTransactionBlock())
		return;

	/* Our status said "active" before the statement ran: see worker.c. */
	pg_memory_barrier();
	if (pg_atomic_read_u32(&lg_shared->block_watch) == 0 ||
		pg_atomic_exchange_u32(&lg_shared->block_watch, 0) == 0)
		return;
	latch = *(Latch *volatile *) &lg_shared->worker_latch;
	if (latch != NULL)
		SetLatch(latch);
}
