/*-------------------------------------------------------------------------
 *
 * fuzz_merge.c
 *		libFuzzer target for the merge of suggested limits into a rule
 *		setting (src/suggestmerge.c).
 *
 * The input is a rule setting, then, one per line, the names of observed
 * applications (cleaned as the server stores names, and cut as it cuts
 * them); each gets a suggestion derived from its bytes, some none, and
 * the input's length picks the kind of value, the naming style, the
 * default and a suggested default.  Besides crashes, leaks and sanitizer
 * reports, it checks that:
 *	- the merged setting parses;
 *	- the check finds no change that no suggestion asked for;
 *	- every application given a rule of its own has its suggestion for the
 *	  sessions no qualified rule catches.
 *
 *-------------------------------------------------------------------------
 */
#include "suggestmerge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
			abort(); \
		} \
	} while (0)

#define MAX_APPS	32
#define NAME_MAX_LEN	63		/* NAMEDATALEN - 1 */

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = malloc(size + 1);
	char		err[LG_RULE_ERROR_SIZE];
	LeakguardNameStyle style = (size & 1) ? LG_NAMES_QMARK : LG_NAMES_HEX;
	LeakguardRuleKind kind = (size & 2) ? LG_RULES_COUNT : LG_RULES_DURATION;
	int64_t		dflt = (kind == LG_RULES_DURATION && (size & 4)) ? 5000 : 0;
	int64_t		dvalue = (size & 8) ? 0 : (kind == LG_RULES_COUNT ? 3 : 7000);
	LeakguardRuleSet *before;
	LeakguardRuleSet *after;
	LgMergeApp	apps[MAX_APPS];
	char	   *names[MAX_APPS];
	int			napps = 0;
	char	   *line;
	char	   *merged;
	LgMergeCheck ck;
	int			i;

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	line = strchr(text, '\n');
	if (line != NULL)
		*line++ = '\0';
	while (line != NULL && napps < MAX_APPS)
	{
		char	   *next = strchr(line, '\n');
		unsigned	h = 0;
		const char *p;

		if (next != NULL)
			*next++ = '\0';
		names[napps] = malloc(LG_CLEAN_GROWTH * strlen(line) + 1);
		CHECK(names[napps] != NULL);
		lg_clean_name(names[napps], line, style);
		if (strlen(names[napps]) > NAME_MAX_LEN)
			names[napps][NAME_MAX_LEN] = '\0';
		for (p = names[napps]; *p; p++)
			h = h * 31 + (unsigned char) *p;
		apps[napps].name = names[napps];
		apps[napps].value = (h % 5 == 0) ? 0 :
			(kind == LG_RULES_COUNT) ? (int64_t) (h % 100) + 1 :
			(int64_t) (h % 100000) + 1;
		/* the names are the statistics' keys: each once */
		for (i = 0; i < napps; i++)
			if (strcmp(names[i], names[napps]) == 0)
				break;
		if (i < napps)
			free(names[napps]);
		else
			napps++;
		line = next;
	}

	before = lg_rules_parse(text, kind, style, err, sizeof(err));
	if (before != NULL)
	{
		merged = lg_merge_setting(before, kind, dflt, apps, napps, dvalue);
		CHECK(merged != NULL);
		after = lg_rules_parse(merged, kind, style, err, sizeof(err));
		if (after == NULL)
			fprintf(stderr, "merged setting rejected: %s\n%s\n", merged, err);
		CHECK(after != NULL);
		CHECK(lg_merge_check(before, after, dflt, apps, napps, dvalue, &ck) == 0);
		CHECK(ck.unasked < 0);
		for (i = 0; i < napps; i++)
			if (lg_merge_classify(before, dflt, &apps[i]) == LG_MERGE_OWN)
			{
				int64_t		v;
				int			pct;

				lg_merge_limit(after, dflt, apps[i].name, NULL, NULL, &v, &pct);
				CHECK(v == apps[i].value && !pct);
			}
		lg_merge_check_free(&ck);
		free(after);
		free(merged);
		free(before);
	}
	for (i = 0; i < napps; i++)
		free(names[i]);
	free(text);
	return 0;
}
