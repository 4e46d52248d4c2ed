/*-------------------------------------------------------------------------
 *
 * histogram.c
 *		Log-linear histograms of durations, and readable durations.
 *
 * See histogram.h for the layout and its error bound.  A value of x
 * microseconds is first put in units of 1/LG_HIST_SUB ms (125 us); from
 * 1 ms on, the position of its highest bit gives the octave and the next
 * LG_HIST_SUB_BITS bits the bucket within it, so a bucket is found with a
 * shift and no loop, and every bucket bound is a whole number of
 * microseconds.
 *
 * Plain C, no PostgreSQL header (unit-tested in test/unit).
 *
 * Shared state: none.
 *
 *-------------------------------------------------------------------------
 */
#include "histogram.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Microseconds per unit of 1/LG_HIST_SUB ms. */
#define LG_HIST_UNIT_US		(1000 / LG_HIST_SUB)

/* Values from this on go to the last bucket. */
#define LG_HIST_TOP_US		(((int64_t) LG_HIST_SUB << LG_HIST_OCTAVES) * LG_HIST_UNIT_US)

int
lg_hist_bucket(int64_t us)
{
	uint64_t	x;
	int			msb;
	int			octave;

	if (us < 1000)
		return 0;
	if (us >= LG_HIST_TOP_US)
		return LG_HIST_BUCKETS - 1;
	x = (uint64_t) us / LG_HIST_UNIT_US;
	msb = 63 - __builtin_clzll(x);
	octave = msb - LG_HIST_SUB_BITS;
	return 1 + octave * LG_HIST_SUB + (int) ((x >> octave) - LG_HIST_SUB);
}

int64_t
lg_hist_bucket_low(int bucket)
{
	int			octave;
	int			sub;

	if (bucket <= 0)
		return 0;
	octave = (bucket - 1) / LG_HIST_SUB;
	sub = (bucket - 1) % LG_HIST_SUB;
	return ((int64_t) (LG_HIST_SUB + sub) << octave) * LG_HIST_UNIT_US;
}

int64_t
lg_hist_bucket_high(int bucket)
{
	if (bucket <= 0)
		return 1000;
	if (bucket >= LG_HIST_BUCKETS - 1)
		return LG_HIST_TOP_US;
	return lg_hist_bucket_low(bucket + 1);
}

void
lg_hist_add(LeakguardHistogram *h, int64_t us)
{
	if (us < 0)
		us = 0;
	h->buckets[lg_hist_bucket(us)]++;
	h->count++;
	if (us > h->max_us)
		h->max_us = us;
}

void
lg_hist_merge(LeakguardHistogram *dst, const LeakguardHistogram *src)
{
	int			i;

	for (i = 0; i < LG_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	if (src->max_us > dst->max_us)
		dst->max_us = src->max_us;
}

/* The value a bucket stands for: its midpoint, at most the largest seen. */
static int64_t
lg_hist_estimate(const LeakguardHistogram *h, int bucket)
{
	int64_t		mid;

	if (bucket == LG_HIST_BUCKETS - 1)
		return h->max_us;
	mid = (lg_hist_bucket_low(bucket) + lg_hist_bucket_high(bucket)) / 2;
	return mid < h->max_us ? mid : h->max_us;
}

int64_t
lg_hist_percentile(const LeakguardHistogram *h, double pct)
{
	int64_t		rank;
	int64_t		seen = 0;
	int			i;

	if (h->count <= 0)
		return -1;
	if (pct >= 100.0)
		return h->max_us;
	rank = (int64_t) ceil(pct / 100.0 * (double) h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < LG_HIST_BUCKETS; i++)
	{
		seen += h->buckets[i];
		if (seen >= rank)
			return lg_hist_estimate(h, i);
	}
	return h->max_us;
}

int64_t
lg_hist_count_from(const LeakguardHistogram *h, int64_t limit_us)
{
	int64_t		n = 0;
	int			i;

	if (h->count <= 0 || h->max_us < limit_us)
		return 0;
	for (i = LG_HIST_BUCKETS - 1; i >= 0; i--)
	{
		if (h->buckets[i] == 0)
			continue;
		if (lg_hist_estimate(h, i) < limit_us)
			break;
		n += h->buckets[i];
	}
	return n;
}

bool
lg_hist_valid(const LeakguardHistogram *h)
{
	int64_t		sum = 0;
	int			last = -1;
	int			i;

	if (h->count < 0 || h->max_us < 0)
		return false;
	for (i = 0; i < LG_HIST_BUCKETS; i++)
	{
		if (h->buckets[i] < 0 || h->buckets[i] > h->count - sum)
			return false;
		sum += h->buckets[i];
		if (h->buckets[i] > 0)
			last = i;
	}
	if (sum != h->count)
		return false;
	/* The largest value lies in the last bucket used (none: it is 0). */
	if (last < 0)
		return h->max_us == 0;
	return lg_hist_bucket(h->max_us) == last;
}

int64_t
lg_readable_ms(int64_t us)
{
	static const int64_t units_ms[] = {3600 * 1000, 60 * 1000, 1000, 1};
	int64_t		ms = (us + 999) / 1000;
	int64_t		unit = 1;
	int64_t		n;
	int64_t		step = 1;
	int			i;

	if (ms < 1)
		return 1;
	for (i = 0; i < 4; i++)
		if (ms >= 10 * units_ms[i])
		{
			unit = units_ms[i];
			break;
		}
	n = (ms + unit - 1) / unit;
	while (n / step >= 100)
		step *= 10;
	n = (n + step - 1) / step * step;
	return n * unit;
}

void
lg_format_ms(char *buf, size_t size, int64_t ms)
{
	static const struct
	{
		int64_t		ms;
		const char *name;
	}			units[] = {
		{24 * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "min"},
		{1000, "s"}, {1, "ms"}
	};
	int			i;

	for (i = 0; i < 4; i++)
		if (ms != 0 && ms % units[i].ms == 0)
			break;
	snprintf(buf, size, "%lld%s", (long long) (ms / units[i].ms), units[i].name);
}
