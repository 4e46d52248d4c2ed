/*-------------------------------------------------------------------------
 *
 * persist.h
 *		The statistics file written at clean shutdown, read at start
 *		(persist.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_PERSIST_H
#define LEAKGUARD_PERSIST_H

#include "port/pg_crc32c.h"

/* persist.c */
extern void lg_stats_load(void);
extern void lg_stats_save(int code, Datum arg);
extern bool lg_shutdown_was_clean(void);
extern char *lg_read_whole_file(const char *path, const char *what,
								Size minsize, Size *len);
extern bool lg_file_write(FILE *file, const void *data, Size len,
						  pg_crc32c *crc);
extern void lg_file_finish(FILE *file, const char *tmpfile, const char *path,
						   pg_crc32c crc, bool ok);

#endif							/* LEAKGUARD_PERSIST_H */
