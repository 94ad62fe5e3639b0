/* two_units_b.c - see two_units_a.c. */
#include <bus.h>

#include "two_units.h"

int two_units_b(void)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    if (bus_topic_name_check("orders") != 0)
        return 1;
    if (bus_strerror(BUS_ECORRUPT)[0] == '\0')
        return 1;
    if (bus_partition_for_key("foobar", 6, 1000) != 166) /* murmur2("foobar") = -790332482 */
        return 1;
    return 0;
}
