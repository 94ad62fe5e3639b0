/* header_alone.c - bus.h compiles first and alone under -std=c11 -Wall -Wextra
 * -Wpedantic -Wsign-conversion -Wstrict-prototypes -Werror: it includes what it
 * uses and warns about nothing.  compile.needs_default_source compiles this same
 * file without -D_DEFAULT_SOURCE and expects bus.h's #error. */
#include <bus.h>

int main(void)
{
    return 0;
}
