/*-------------------------------------------------------------------------
 *
 * test_histogram.c
 *		Unit tests of the log-linear histogram and readable durations:
 *		percentiles against the exact values over many distributions.
 *
 * Built with AddressSanitizer and UBSan; no PostgreSQL needed.  Each check
 * prints a line on failure; the last line is "N passed, M failed".
 *
 *-------------------------------------------------------------------------
 */
#include "histogram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVALUES		20000

static int	passed;
static int	failed;

static void
check(int ok, const char *what, const char *detail)
{
	if (ok)
		passed++;
	else
	{
		failed++;
		printf("FAIL: %s: %s\n", what, detail);
	}
}

/* xorshift64*: the same sequence on every platform */
static uint64_t rng_state = 88172645463325252ULL;

static double
uniform01(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double) ((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

typedef double (*draw_fn) (void);

static double
d_uniform_20_200ms(void)
{
	return 20000 + uniform01() * 180000;
}

static double
d_exponential_50ms(void)
{
	return -log(1.0 - uniform01()) * 50000;
}

static double
d_lognormal(void)
{
	double		u1 = uniform01() + 1e-12;
	double		u2 = uniform01();
	double		z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	return exp(log(300000.0) + 2.0 * z);
}

static double
d_pareto(void)
{
	return 2000.0 / pow(1.0 - uniform01(), 1.0 / 1.2);
}

static double
d_bimodal(void)
{
	return uniform01() < 0.97 ? 5000 + uniform01() * 5000 : 3600e6 + uniform01() * 3600e6;
}

static double
d_constant_1s(void)
{
	return 1000000;
}

static double
d_log_uniform_1ms_10d(void)
{
	return exp(log(1000.0) + uniform01() * (log(864000e6) - log(1000.0)));
}

static double
d_submillisecond(void)
{
	return uniform01() * 999;
}

/*
 * Percentiles of a distribution: the histogram's against the exact ones,
 * the smallest value with at least pct% of all at or below it.  From 1 ms
 * on the relative error is at most 10% (6.25% by construction); under
 * 1 ms, outside the range, within 1 ms.
 */
static void
check_distribution(const char *name, draw_fn draw, int n)
{
	static const double pcts[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100};
	int64_t    *values = malloc(sizeof(int64_t) * n);
	LeakguardHistogram *h = calloc(1, sizeof(LeakguardHistogram));
	LeakguardHistogram *half = calloc(1, sizeof(LeakguardHistogram));
	double		worst = 0;
	char		detail[256];
	int			i;
	size_t		p;

	for (i = 0; i < n; i++)
	{
		values[i] = (int64_t) draw();
		if (i % 2 == 0)
			lg_hist_add(h, values[i]);
		else
			lg_hist_add(half, values[i]);
	}
	/* merging two halves gives the histogram of the whole */
	lg_hist_merge(h, half);
	qsort(values, n, sizeof(int64_t), cmp_int64);

	check(h->count == n, "count", name);
	check(h->max_us == values[n - 1], "exact maximum", name);
	check(lg_hist_valid(h), "valid", name);
	for (p = 0; p < sizeof(pcts) / sizeof(pcts[0]); p++)
	{
		int64_t		rank = (int64_t) ceil(pcts[p] / 100.0 * n);
		int64_t		exact = values[(rank < 1 ? 1 : rank) - 1];
		int64_t		got = lg_hist_percentile(h, pcts[p]);
		double		err;

		if (exact >= 1000)
		{
			err = fabs((double) (got - exact)) / (double) exact;
			if (err > worst)
				worst = err;
			snprintf(detail, sizeof(detail), "%s p%g: exact %lld us, histogram %lld us (%.2f%%)",
					 name, pcts[p], (long long) exact, (long long) got, 100 * err);
			check(err <= 0.10, "percentile within 10%", detail);
		}
		else
		{
			snprintf(detail, sizeof(detail), "%s p%g: exact %lld us, histogram %lld us",
					 name, pcts[p], (long long) exact, (long long) got);
			check(llabs(got - exact) < 1000, "percentile under 1 ms within 1 ms", detail);
		}
	}
	printf("%-24s %6d values, worst relative error %.2f%%\n", name, n, 100 * worst);
	free(values);
	free(h);
	free(half);
}

/* Every bucket: bounds contiguous, width at most 1/LG_HIST_SUB of low. */
static void
check_buckets(void)
{
	char		detail[128];
	int			i;

	check(lg_hist_bucket(0) == 0 && lg_hist_bucket(999) == 0, "under 1 ms: bucket 0", "0, 999");
	check(lg_hist_bucket(1000) == 1, "1 ms: bucket 1", "1000");
	check(lg_hist_bucket(INT64_MAX) == LG_HIST_BUCKETS - 1, "huge: last bucket", "INT64_MAX");
	for (i = 1; i < LG_HIST_BUCKETS; i++)
	{
		int64_t		low = lg_hist_bucket_low(i);
		int64_t		high = lg_hist_bucket_high(i);

		snprintf(detail, sizeof(detail), "bucket %d [%lld, %lld)", i, (long long) low, (long long) high);
		check(low == lg_hist_bucket_high(i - 1), "contiguous", detail);
		check(lg_hist_bucket(low) == i && lg_hist_bucket(high - 1) == i, "bounds map back", detail);
		check((high - low) * LG_HIST_SUB <= low, "width at most 1/8 of low", detail);
	}
	/* the range reaches days */
	check(lg_hist_bucket_low(LG_HIST_BUCKETS - 1) >= (int64_t) 10 * 86400 * 1000000, "reaches 10 days", "");
}

static void
check_count_from(void)
{
	LeakguardHistogram *h = calloc(1, sizeof(LeakguardHistogram));
	int			i;

	for (i = 0; i < 300; i++)
		lg_hist_add(h, 20000 + i * 600);
	for (i = 0; i < 3; i++)
		lg_hist_add(h, 5000000);
	check(lg_hist_count_from(h, 400000) == 3, "count from 400 ms: the 3 leaks", "");
	check(lg_hist_count_from(h, 5000001) == 0, "count beyond the max: 0", "");
	check(lg_hist_count_from(h, 0) == 303, "count from 0: all", "");
	free(h);

	h = calloc(1, sizeof(LeakguardHistogram));
	check(lg_hist_percentile(h, 99) == -1, "empty: -1", "");
	check(lg_hist_count_from(h, 1) == 0, "empty: none", "");
	check(lg_hist_valid(h), "empty: valid", "");
	lg_hist_add(h, 5000);
	h->buckets[3]++;
	check(!lg_hist_valid(h), "counts that do not add up: invalid", "");
	h->buckets[3]--;
	h->max_us = 90000000;
	check(!lg_hist_valid(h), "max beyond the last bucket used: invalid", "");
	free(h);
}

static void
expect_readable(int64_t us, int64_t want_ms, const char *want_text)
{
	char		buf[64];
	char		detail[128];
	int64_t		got = lg_readable_ms(us);

	lg_format_ms(buf, sizeof(buf), got);
	snprintf(detail, sizeof(detail), "%lld us: got %lld ms \"%s\", want %lld ms \"%s\"",
			 (long long) us, (long long) got, buf, (long long) want_ms, want_text);
	check(got == want_ms && strcmp(buf, want_text) == 0, "readable duration", detail);
	check(got * 1000 >= us, "rounded up", detail);
}

static void
check_readable(void)
{
	int64_t		us;

	expect_readable(0, 1, "1ms");
	expect_readable(1, 1, "1ms");
	expect_readable(437000, 440, "440ms");
	expect_readable(437123, 440, "440ms");
	expect_readable(4370000, 4400, "4400ms");
	expect_readable(43217000, 44000, "44s");
	expect_readable(45000000, 45000, "45s");
	expect_readable(123000000, 130000, "130s");
	expect_readable(700000000, 12 * 60000, "12min");
	expect_readable((int64_t) 5400 * 1000000, 90 * 60000, "90min");
	expect_readable((int64_t) 86400 * 1000000, 24 * 3600000, "1d");
	expect_readable((int64_t) 37 * 3600 * 1000000 + 1, 38 * 3600000, "38h");

	/* never below, never more than 11% (and 1 ms) above */
	for (us = 1000; us < (int64_t) 30 * 86400 * 1000000; us = us * 21 / 20 + 7)
	{
		int64_t		got = lg_readable_ms(us);
		char		detail[64];

		snprintf(detail, sizeof(detail), "%lld us -> %lld ms", (long long) us, (long long) got);
		check(got * 1000 >= us && (double) got * 1000 <= (double) us * 1.11 + 1000.0,
			  "at most 11% above", detail);
	}
}

int
main(void)
{
	check_buckets();
	check_count_from();
	check_readable();
	check_distribution("uniform 20-200 ms", d_uniform_20_200ms, NVALUES);
	check_distribution("exponential 50 ms", d_exponential_50ms, NVALUES);
	check_distribution("lognormal 300 ms", d_lognormal, NVALUES);
	check_distribution("pareto 2 ms", d_pareto, NVALUES);
	check_distribution("bimodal 5 ms / 1 h", d_bimodal, NVALUES);
	check_distribution("constant 1 s", d_constant_1s, 1000);
	check_distribution("log-uniform 1 ms-10 d", d_log_uniform_1ms_10d, NVALUES);
	check_distribution("under 1 ms", d_submillisecond, 1000);
	check_distribution("uniform, 7 values", d_uniform_20_200ms, 7);
	check_distribution("lognormal, 1 value", d_lognormal, 1);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
