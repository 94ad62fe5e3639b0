/* bus/bus_impl.h - the bodies of bus.h, in dependency order.  Included by bus.h
 * only; the concerns are: format (the ABI), atomic, crc32c, hash, proc (liveness,
 * clocks), wait (futex), ctl (bus and control segment), ring (the protocol), topic,
 * durable (what busd has flushed), producer, consumer. */
#ifndef BUS_IMPL_H
#define BUS_IMPL_H

#include "consumer.h"

#endif /* BUS_IMPL_H */
