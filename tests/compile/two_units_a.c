/* two_units_a.c, two_units_b.c - two translation units that both include bus.h and
 * call the same functions, linked into one program.  A definition in the headers
 * that is not static (or a global) is then defined twice and the link fails. */
#include <bus.h>

#include "two_units.h"

int main(void)
{
    bus_topic_config_t tc;
    bus_topic_config_init(&tc);
    if (bus_topic_config_check(&tc, NULL) != 0)
        return 1;
    if (bus_strerror(BUS_EOFFSET)[0] == '\0')
        return 1;
    if (bus_partition_for_key("21", 2, 1000) != 340) /* Kafka: murmur2("21") = -973932308 */
        return 1;
    return two_units_b();
}
