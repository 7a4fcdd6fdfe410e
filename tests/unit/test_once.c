/* Unit tests for kernel/once.c: single-threaded semantics (first claim wins, later ones lose,
 * keys are pointers, not strings), a full table (the overflowing key is claimed every time and
 * the others are still remembered), and 8 threads released together by a barrier claiming the
 * same keys in different orders: each key is won exactly once per round. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "kernel/once.h"

#define THREADS 8
#define KEYS 256
#define ROUNDS 50

static const char key_store[KEYS]; /* &key_store[i]: KEYS distinct keys */

static const char *key(u32 i)
{
	return &key_store[i];
}

static void test_first_claim_wins(void **state)
{
	const char *table[4] = { 0 };

	(void)state;
	assert_true(once_claim(table, 4, "a"));
	assert_false(once_claim(table, 4, "a"));
	assert_false(once_claim(table, 4, "a"));
	assert_true(once_claim(table, 4, key(1)));
	assert_false(once_claim(table, 4, key(1)));
	assert_false(once_claim(table, 4, "a"));
	assert_ptr_equal(table[0], "a");
	assert_ptr_equal(table[1], key(1));
	assert_null(table[2]);
}

static void test_keys_are_pointers(void **state)
{
	static const char one[] = "same", two[] = "same";
	const char *table[4] = { 0 };

	(void)state;
	assert_true(once_claim(table, 4, one));
	assert_true(once_claim(table, 4, two)); /* equal text, different key */
	assert_false(once_claim(table, 4, one));
	assert_false(once_claim(table, 4, two));
}

static void test_full_table(void **state)
{
	const char *table[3] = { 0 };

	(void)state;
	for (u32 i = 0; i < 3; i++)
		assert_true(once_claim(table, 3, key(i)));
	/* No room: never remembered, so never silenced. */
	for (int rep = 0; rep < 3; rep++)
		assert_true(once_claim(table, 3, key(3)));
	for (u32 i = 0; i < 3; i++)
		assert_false(once_claim(table, 3, key(i)));
	assert_true(once_claim(table, 0, key(0))); /* an empty table holds nothing */
}

struct shared {
	const char *table[KEYS];
	pthread_barrier_t start;
	int wins[KEYS];
};

struct worker {
	struct shared *sh;
	u32 seed;
};

static void *claim_all(void *arg)
{
	struct worker *w = arg;
	u32 order[KEYS], x = w->seed;

	for (u32 i = 0; i < KEYS; i++)
		order[i] = i;
	for (u32 i = KEYS - 1; x && i > 0; i--) { /* its own order (xorshift shuffle) */
		u32 j, t;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		j = x % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	pthread_barrier_wait(&w->sh->start);
	for (u32 i = 0; i < KEYS; i++)
		if (once_claim(w->sh->table, KEYS, key(order[i])))
			__atomic_fetch_add(&w->sh->wins[order[i]], 1, __ATOMIC_RELAXED);
	return NULL;
}

static void test_threads_claim_each_key_once(void **state)
{
	static struct shared shared; /* static: a failed assertion leaks nothing */
	struct shared *sh = &shared;

	(void)state;
	for (u32 round = 0; round < ROUNDS; round++) {
		struct worker w[THREADS];
		pthread_t t[THREADS];

		memset(sh, 0, sizeof(*sh));
		assert_int_equal(pthread_barrier_init(&sh->start, NULL, THREADS), 0);
		for (u32 i = 0; i < THREADS; i++) {
			/* Thread 0 keeps the natural order so that some threads collide slot by slot. */
			w[i] = (struct worker){ sh, i ? 0x9e3779b9u * (round * THREADS + i) | 1 : 0 };
			assert_int_equal(pthread_create(&t[i], NULL, claim_all, &w[i]), 0);
		}
		for (u32 i = 0; i < THREADS; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		for (u32 k = 0; k < KEYS; k++)
			assert_int_equal(sh->wins[k], 1);
		/* Every key sits in exactly one slot. */
		for (u32 k = 0; k < KEYS; k++) {
			int seen = 0;

			for (u32 s = 0; s < KEYS; s++)
				seen += sh->table[s] == key(k);
			assert_int_equal(seen, 1);
		}
		pthread_barrier_destroy(&sh->start);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_claim_wins),
		cmocka_unit_test(test_keys_are_pointers),
		cmocka_unit_test(test_full_table),
		cmocka_unit_test(test_threads_claim_each_key_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
