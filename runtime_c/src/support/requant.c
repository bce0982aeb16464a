/* requant.c - mt_requantize, the public face of the one rounding rule (requant.h). */
#include "mt/mt_s8.h"
#include "requant.h"

/* out = saturate_int32(floor((acc*multiplier + 2^(30-shift)) / 2^(31-shift))).
 * Defined for multiplier >= 0 and shift in [-31, 30]; outside that domain (which
 * the kernels reject with MT_ERR_ARG) this returns 0 rather than invoke undefined
 * shifts.                                                                        */
int32_t mt_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    if (!mt_requant_ok(&multiplier, &shift, 1))
        return 0;
    return mt_requantize_inline(acc, multiplier, shift);
}
