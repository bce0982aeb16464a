/* check.h - argument validation shared by the kernels (internal).
 *
 * Every entry point validates once, up front, and returns a status; inner loops
 * carry no checks. */
#ifndef MT_CHECK_H
#define MT_CHECK_H

#include <stdint.h>
#include "mt/mt_status.h"
#include "mt/mt_types.h"

#define MT_CHECK(cond, status) \
    do { if (!(cond)) return (status); } while (0)

/* 1 if every dim is >= 1 and the element count fits in int32. */
int mt_dims_ok(const mt_dims *d);

/* n*h*w*c; only meaningful after mt_dims_ok. */
static inline int32_t mt_dims_count(const mt_dims *d)
{
    return d->n * d->h * d->w * d->c;
}

#endif /* MT_CHECK_H */
