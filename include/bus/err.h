/* bus/err.h - error codes and bus_strerror().
 *
 * Every bus function returns >= 0 on success or a negative error: either a
 * negative errno value (-ENOENT, -EINVAL, ...) or one of the bus-specific codes
 * below, which sit under -4096 so they never collide with errno values.  There is
 * no global or thread-local error state.
 */
#ifndef BUS_ERR_H
#define BUS_ERR_H

#include <string.h>

#ifndef BUS_API
#define BUS_API static inline
#endif

/* X(name, value, message): the one table both the enum and bus_strerror() read. */
#define BUS__ERRORS(X)                                                                 \
    X(BUS_EOFFSET, -4097, "offset out of range")                                       \
    X(BUS_ELAPPED, -4098, "consumer lapped: records were overwritten before it read them") \
    X(BUS_ECORRUPT, -4099, "corrupt data: bad length, bound or checksum")             \
    X(BUS_EBADMAGIC, -4100, "not a bus file: bad magic number")                        \
    X(BUS_EVERSION, -4101, "unsupported bus format version")                           \
    X(BUS_ELAYOUT, -4102, "bus file layout differs from this build")                   \
    X(BUS_ETRUNC, -4103, "bus file truncated")                                         \
    X(BUS_ENOPART, -4104, "no such partition")                                         \
    X(BUS_ETOPICNAME, -4105, "invalid topic name: use 1-249 of [a-zA-Z0-9._-], not . or ..") \
    X(BUS_ECONFIG, -4106, "invalid configuration value")                               \
    X(BUS_ENOTASSIGNED, -4107, "partition not assigned to this consumer")              \
    X(BUS_EDELETED, -4108, "topic was deleted")                                        \
    X(BUS_EGROUPNAME, -4109, "invalid group id: use 1-249 of [a-zA-Z0-9._-], not . or ..") \
    X(BUS_ESTRATEGY, -4110, "the group's members use another assignment strategy")  \
    X(BUS_ENOBUSD, -4111, "no busd is flushing this bus: start busd <bus path>")     \
    X(BUS_EUNSAFE, -4112,                                                               \
      "unsafe bus: owned by another user or writable by others (fix it, or trust_foreign)")

enum bus_error {
#define BUS__ERR_ENUM(name, value, msg) name = (value),
    BUS__ERRORS(BUS__ERR_ENUM)
#undef BUS__ERR_ENUM
    BUS_E__FIRST = -4097, /* the bus codes span [BUS_E__LAST, BUS_E__FIRST] */
    BUS_E__LAST = -4112
};

/* Names an error returned by any bus function: bus codes from the table above,
 * negative errno values through strerror(3).  Never returns NULL. */
BUS_API const char *bus_strerror(int err)
{
    switch (err) {
#define BUS__ERR_CASE(name, value, msg) \
    case (value):                       \
        return (msg);
        BUS__ERRORS(BUS__ERR_CASE)
#undef BUS__ERR_CASE
    case 0:
        return "success";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

#endif /* BUS_ERR_H */
