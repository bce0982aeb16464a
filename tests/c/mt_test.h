/* mt_test.h - a tiny test harness for the C tests (ctest runs each binary).
 *
 *   MT_EXPECT(cond)                 record a failure, keep going
 *   MT_EXPECT_STATUS(expr, status)  expr must return exactly status
 *   MT_EXPECT_NEAR(a, b, tol)       |a - b| <= tol * max(1, |b|)
 *   return mt_test_summary("name"); prints "N passed, M failed", exit code 0/1
 */
#ifndef MT_TEST_H
#define MT_TEST_H

#include <math.h>
#include <stdio.h>

static int mt_test_passed, mt_test_failed;

#define MT_EXPECT(cond)                                                        \
    do {                                                                       \
        if (cond) { mt_test_passed++; }                                        \
        else { mt_test_failed++;                                               \
               fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define MT_EXPECT_STATUS(expr, status)                                         \
    do {                                                                       \
        int got_ = (int)(expr);                                                \
        if (got_ == (int)(status)) { mt_test_passed++; }                       \
        else { mt_test_failed++;                                               \
               fprintf(stderr, "%s:%d: %s returned %d, expected %s (%d)\n",    \
                       __FILE__, __LINE__, #expr, got_, #status, (int)(status)); } \
    } while (0)

#define MT_EXPECT_NEAR(a, b, tol)                                              \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        double lim_ = (tol) * (fabs(b_) > 1.0 ? fabs(b_) : 1.0);               \
        if (fabs(a_ - b_) <= lim_) { mt_test_passed++; }                       \
        else { mt_test_failed++;                                               \
               fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g\n",       \
                       __FILE__, __LINE__, #a, a_, #b, b_); }                  \
    } while (0)

static inline int mt_test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, mt_test_passed, mt_test_failed);
    return mt_test_failed ? 1 : 0;
}

/* Deterministic pseudo-random floats in [-1, 1) (xorshift32). */
static inline float mt_test_rand(unsigned *state)
{
    unsigned x = *state;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    *state = x;
    return (float)((x >> 8) * (1.0 / 8388608.0)) - 1.0f;
}

#endif /* MT_TEST_H */
