/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The background processes: the worker (worker.c) and the helper for
 *		prepared transactions (prepared.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_WORKER_H
#define LEAKGUARD_WORKER_H

/* prepared.c */
extern int64 lg_prepared_check(void);
extern PGDLLEXPORT void lg_prepared_main(Datum arg);

/* leakguard.c */
extern void lg_register_worker(void);

/* worker.c */
extern PGDLLEXPORT void lg_worker_main(Datum arg);

#endif							/* LEAKGUARD_WORKER_H */
