/* df_test: the few macros the C tests use. Each test program runs its
 * cases, prints one line per failed check, and ends with
 * "N passed, N failed"; the exit code is non-zero when a check failed or no
 * check ran at all (a test that asserts nothing is a defect). */
#ifndef DF_TEST_H
#define DF_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int df_test_checks;
static int df_test_failures;
static int df_test_cases_passed;
static int df_test_cases_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        df_test_checks++;                                                            \
        if (!(cond)) {                                                               \
            df_test_failures++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        df_test_checks++;                                                            \
        if (!(cond)) {                                                               \
            df_test_failures++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

#define CHECK_INT(a, b)                                           \
    do {                                                          \
        long long df_a_ = (long long)(a), df_b_ = (long long)(b); \
        CHECK_MSG(df_a_ == df_b_, "%lld != %lld", df_a_, df_b_);  \
    } while (0)

#define CHECK_STR(a, b)                                                          \
    do {                                                                         \
        const char *df_a_ = (a), *df_b_ = (b);                                   \
        CHECK_MSG(df_a_ &&df_b_ &&strcmp(df_a_, df_b_) == 0, "\"%s\" != \"%s\"", \
                  df_a_ ? df_a_ : "(null)", df_b_ ? df_b_ : "(null)");           \
    } while (0)

/* Stop the whole program: for a precondition the rest cannot run without. */
#define REQUIRE(cond)                                                            \
    do {                                                                         \
        df_test_checks++;                                                        \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
            printf("0 passed, 1 failed\n");                                      \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define RUN(fn)                                \
    do {                                       \
        int df_before_ = df_test_failures;     \
        fn();                                  \
        if (df_test_failures == df_before_) {  \
            df_test_cases_passed++;            \
        } else {                               \
            df_test_cases_failed++;            \
            fprintf(stderr, "FAIL %s\n", #fn); \
        }                                      \
    } while (0)

static inline int df_test_done(void)
{
    printf("%d passed, %d failed\n", df_test_cases_passed, df_test_cases_failed);
    if (df_test_checks == 0) {
        fprintf(stderr, "no check ran\n");
        return 1;
    }
    return df_test_failures ? 1 : 0;
}

/* An environment variable the integration tier needs; fails loudly. */
static inline const char *df_test_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run the integration tier through tests/run\n", name);
        printf("0 passed, 1 failed\n");
        exit(1);
    }
    return v;
}

#endif
