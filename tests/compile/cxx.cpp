// cxx.cpp - bus.h included from C++11 (bus.h section 4 promises C++11 with C
// linkage), under -Wall -Wextra -Werror.
#include <bus.h>

#include <cstring>

int main()
{
    if (std::strlen(bus_strerror(BUS_EOFFSET)) == 0)
        return 1;
    return bus_partition_for_key("foobar", 6, 1000) == 166 ? 0 : 1;
}
