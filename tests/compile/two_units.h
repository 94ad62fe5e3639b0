/* two_units.h - the one function two_units_b.c gives two_units_a.c. */
#ifndef TWO_UNITS_H
#define TWO_UNITS_H

int two_units_b(void);

#endif
