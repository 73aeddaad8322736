/* test_clock.c - clock readings, deadlines (normalised nanoseconds) and the replaceable clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"

static void test_deadline_normalised(void **state)
{
    (void)state;
    static const long long ms[] = { 0, 1, 999, 1000, 1001, 1999, 86400000LL, -5 };
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        for (int k = 0; k < 200; k++) { /* different sub-second starting points */
            struct timespec before;
            clock_gettime(CLOCK_REALTIME, &before);
            struct timespec d = clock_deadline(ms[i]);
            assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
            long long want = ms[i] < 0 ? 0 : ms[i];
            long long got_ms = ((long long)d.tv_sec - before.tv_sec) * 1000 +
                               (d.tv_nsec - before.tv_nsec) / 1000000;
            assert_true(got_ms >= want && got_ms <= want + 50);
        }
    }
}

static void test_readings(void **state)
{
    (void)state;
    int64_t w = clock_wall_ms();
    assert_true(w > 1700000000000LL); /* after 2023 */
    int64_t a = clock_mono_ms(), b = clock_mono_ms();
    assert_true(b >= a);
    struct timespec x = { 10, 900000000L }, y = { 12, 100000000L };
    assert_true(clock_elapsed_s(&x, &y) > 1.199 && clock_elapsed_s(&x, &y) < 1.201);
}

static int64_t fixed_now(void *ctx)
{
    return *(int64_t *)ctx;
}

static void test_injected(void **state)
{
    (void)state;
    int64_t t = 1767196799000LL; /* a second before midnight in Shanghai, 2026-01-01 */
    struct clock c = { fixed_now, &t };
    assert_true(clock_now_ms(&c) == t);
    t += 2000;
    assert_true(clock_now_ms(&c) == t);
    int64_t sys = clock_now_ms(clock_system()), null = clock_now_ms(NULL);
    assert_true(sys > 1700000000000LL && null >= sys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_normalised),
        cmocka_unit_test(test_readings),
        cmocka_unit_test(test_injected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
