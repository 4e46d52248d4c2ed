/*-------------------------------------------------------------------------
 *
 * fingerprint.h
 *		A fingerprint of a statement's text, without its constants: what
 *		keys a leak source when the server computes no query id.
 *
 * When compute_query_id is off, PgBackendStatus.st_query_id is 0 and the
 * only trace of the statement a session ran last is its text.  Two runs of
 * one code path differ there only by their constants ("... WHERE id = 7",
 * "... WHERE id = 8") and by layout, so the text is normalised before it is
 * hashed:
 *
 *	- numbers, string constants ('...', E'...', X'...', B'...', N'...',
 *	  U&'...', $tag$...$tag$) and parameters ($1) become '?';
 *	- a list of constants separated by commas ("IN (1, 2, 3)") becomes one
 *	  '?', so that lists of different lengths are one statement;
 *	- comments and whitespace separate tokens and are otherwise dropped;
 *	  tokens are joined by one space, so "id=7" and "id = 8" agree;
 *	- unquoted words (keywords and identifiers) are folded to lower case,
 *	  as the server folds them; quoted identifiers are kept as written;
 *	- semicolons at the end are dropped.
 *
 * The normalised text is hashed with 64-bit FNV-1a as it is made.  Only a
 * key, never shown: two statements that differ beyond the stored length of
 * a statement (LG_QUERY_TEXT_LEN, or track_activity_query_size if smaller)
 * share one.
 *
 * This file is plain C on purpose, like rules.h: no PostgreSQL header, no
 * server call, so that it can be unit-tested alone (test/unit).
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_FINGERPRINT_H
#define LEAKGUARD_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The fingerprint of a NUL-terminated statement text.  When out is not
 * NULL, the normalised text is also written there (cut to outsize - 1
 * bytes, always NUL-terminated); the fingerprint covers all of it.
 */
extern uint64_t lg_fingerprint(const char *query, char *out, size_t outsize);

#endif							/* LEAKGUARD_FINGERPRINT_H */
