/*-------------------------------------------------------------------------
 *
 * histogram.h
 *		Log-linear histograms of durations, and the readable durations a
 *		suggestion is rounded up to.
 *
 * A histogram covers 1 ms to 2^31 ms (about 24.8 days) in fixed memory:
 * one bucket for everything under 1 ms, then LG_HIST_SUB buckets of equal
 * width per power of two of milliseconds (HDR-style), and the last bucket
 * also takes everything longer.  A bucket is at most 1/LG_HIST_SUB of its
 * lower bound wide, so the midpoint of the bucket that holds a percentile
 * is within 1/(2 * LG_HIST_SUB) = 6.25% of the exact value, for any value
 * from 1 ms on; the estimate is further clamped to the largest value seen,
 * which is kept exactly.
 *
 * This file is plain C on purpose, like rules.h: no PostgreSQL header, no
 * server call, so that it can be unit-tested alone (test/unit).
 *
 * Shared state: none.  The caller protects a histogram it shares.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEAKGUARD_HISTOGRAM_H
#define LEAKGUARD_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_HIST_SUB_BITS	3
#define LG_HIST_SUB			(1 << LG_HIST_SUB_BITS)	/* buckets per octave */
#define LG_HIST_OCTAVES		31	/* 1 ms to 2^31 ms */
#define LG_HIST_BUCKETS		(1 + LG_HIST_OCTAVES * LG_HIST_SUB)

/* Durations are in microseconds, as TimestampTz differences are. */
typedef struct LeakguardHistogram
{
	int64_t		count;			/* values added */
	int64_t		max_us;			/* the largest value added */
	int64_t		buckets[LG_HIST_BUCKETS];
} LeakguardHistogram;

/* The bucket of a duration, and the bounds [low, high) of a bucket. */
extern int	lg_hist_bucket(int64_t us);
extern int64_t lg_hist_bucket_low(int bucket);
extern int64_t lg_hist_bucket_high(int bucket);

/* Add one duration (a negative one counts as 0). */
extern void lg_hist_add(LeakguardHistogram *h, int64_t us);

/* Add the counts of src to dst. */
extern void lg_hist_merge(LeakguardHistogram *dst, const LeakguardHistogram *src);

/*
 * The value at percentile pct (0 < pct <= 100): the smallest value such
 * that at least pct% of the values are at most it, estimated from the
 * buckets; -1 when the histogram is empty.
 */
extern int64_t lg_hist_percentile(const LeakguardHistogram *h, double pct);

/*
 * How many values reached limit_us (a value is counted when its bucket's
 * midpoint, clamped to the largest value, is at least limit_us).
 */
extern int64_t lg_hist_count_from(const LeakguardHistogram *h, int64_t limit_us);

/* Whether a histogram read from a file is one lg_hist_add() could make. */
extern bool lg_hist_valid(const LeakguardHistogram *h);

/*
 * A duration rounded up to what a person writes: whole milliseconds,
 * seconds, minutes or hours with at most two significant digits in the
 * largest unit of which the duration holds at least ten (so at most 11%
 * more, and at least 1 ms).  Returns milliseconds.
 */
extern int64_t lg_readable_ms(int64_t us);

/*
 * Write ms as the rule parser reads it, in the largest unit that divides
 * it: "440ms", "44s", "5min", "2h", "1d".
 */
extern void lg_format_ms(char *buf, size_t size, int64_t ms);

#endif							/* LEAKGUARD_HISTOGRAM_H */
