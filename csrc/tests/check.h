/*
 * check.h - the C tests' CHECK(): report a failed condition, count it,
 * carry on.
 */
#ifndef SHMCP_TEST_CHECK_H
#define SHMCP_TEST_CHECK_H
#include <stdio.h>

static int failures;
#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #c);                                \
			failures++;                                           \
		}                                                             \
	} while (0)

/* main()'s last word: the verdict, and its exit status */
static inline int report(const char *test)
{
	if (failures) {
		fprintf(stderr, "%s: %d failures\n", test, failures);
		return 1;
	}
	printf("%s: all passed\n", test);
	return 0;
}

#endif
