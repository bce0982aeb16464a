/* mla_f32.h - the float multiply-accumulate of the blocked forward kernels (internal).
 *
 *   mt_mla_f32(acc, a, b) = acc + a*b, the product rounded to float, then the sum
 *   rounded: exactly the C expression `acc + a * b` under -ffp-contract=off.
 *
 * GCC never emits the single-instruction form for Cortex-M (it treats it as a
 * contraction and its M-profile tuning avoids it), so on an Arm FPU with single
 * precision it is written out as VMLA.F32. VMLA is NOT fused: the Arm ARM defines
 * it as FPAdd(acc, FPMul(a, b)) with both steps rounded under the same FPSCR, so
 * the result is bit-identical to the two-instruction vmul + vadd (and to the
 * host's SSE mul + add). It halves the instructions of every inner loop.
 * Define MT_NO_VMLA to build the plain C expression everywhere.             */
#ifndef MT_MLA_F32_H
#define MT_MLA_F32_H

#if defined(__GNUC__) && defined(__arm__) && defined(__ARM_FP) && ((__ARM_FP) & 4) \
    && !defined(MT_NO_VMLA)
#define MT_MLA_VMLA 1
#else
#define MT_MLA_VMLA 0
#endif

static inline float mt_mla_f32(float acc, float a, float b)
{
#if MT_MLA_VMLA
    __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
    return acc;
#else
    return acc + a * b;
#endif
}

/* MT_OPAQUE_PTR(p): an empty statement that hides p's value from the optimiser.
 * Placed in an inner loop that post-increments p, it stops GCC from re-deriving
 * p after the loop from its start value (a second register and an add per
 * pointer and row); no instruction is emitted and no float operation changes. */
#if defined(__GNUC__)
#define MT_OPAQUE_PTR(p) __asm__("" : "+r"(p))
#else
#define MT_OPAQUE_PTR(p) ((void)0)
#endif

#endif /* MT_MLA_F32_H */
