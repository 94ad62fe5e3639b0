/* test_strerror.c - bus_strerror names every code: bus codes distinctly, errno
 * codes as strerror(3) does, 0 as success, anything else without returning NULL. */
#include "common/bus_test.h"

static void test_bus_codes_distinct(void **state)
{
    (void)state;
    assert_true(BUS_E__LAST <= BUS_E__FIRST);
    assert_true(BUS_E__FIRST < -4096); /* never collides with an errno value */
    const char *unknown = bus_strerror(-1000000);
    assert_non_null(unknown);
    for (int e = BUS_E__LAST; e <= BUS_E__FIRST; e++) {
        const char *m = bus_strerror(e);
        assert_non_null(m);
        if (*m == '\0' || strcmp(m, unknown) == 0 || strstr(m, "nknown") != NULL)
            fail_msg("bus code %d has no message of its own: \"%s\"", e, m);
        for (int f = BUS_E__LAST; f < e; f++)
            if (strcmp(m, bus_strerror(f)) == 0)
                fail_msg("codes %d and %d share the message \"%s\"", e, f, m);
    }
    /* The codes the header names are in the range. */
    static const int named[] = {BUS_EOFFSET,    BUS_ELAPPED,  BUS_ECORRUPT,     BUS_EBADMAGIC,
                                BUS_EVERSION,   BUS_ELAYOUT,  BUS_ETRUNC,       BUS_ENOPART,
                                BUS_ETOPICNAME, BUS_ECONFIG,  BUS_ENOTASSIGNED, BUS_EDELETED};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        assert_in_range(named[i], BUS_E__LAST, BUS_E__FIRST);
}

static void test_errno_codes(void **state)
{
    (void)state;
    static const int errs[] = {EPERM,  ENOENT,    EINTR,  EIO,    ENOMEM,  EACCES,
                               EEXIST, ENOTDIR,   EINVAL, ENOSPC, EAGAIN,  EMSGSIZE,
                               ELOOP,  ETIMEDOUT, EUSERS, ENOTSUP, ENAMETOOLONG};
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        char want[256];
        /* strerror's buffer may be reused: copy before calling bus_strerror. */
        snprintf(want, sizeof(want), "%s", strerror(errs[i]));
        const char *m = bus_strerror(-errs[i]);
        assert_non_null(m);
        assert_string_equal(m, want);
    }
}

static void test_success_and_unknown(void **state)
{
    (void)state;
    assert_string_equal(bus_strerror(0), "success");
    static const int odd[] = {1,     42,    INT32_MAX, INT32_MIN, -4096,
                              -4097 + 1, BUS_E__LAST - 1, -5000, -100000};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        const char *m = bus_strerror(odd[i]);
        assert_non_null(m);
    }
    assert_non_null(bus_strerror(BUS_E__LAST - 1));
    assert_string_not_equal(bus_strerror(BUS_E__LAST - 1), bus_strerror(BUS_E__LAST));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_codes_distinct),
        cmocka_unit_test(test_errno_codes),
        cmocka_unit_test(test_success_and_unknown),
    };
    return cmocka_run_group_tests_name("strerror", tests, NULL, NULL);
}
