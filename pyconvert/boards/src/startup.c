/* startup.c - vector table and C runtime start-up for the Cortex-M boards.
 *
 * On reset the core loads the stack pointer from vector 0 and jumps to vector 1,
 * read at VTOR (0x00000000 on the MPS2 AN385/386/500 and the micro:bit, 0x08000000
 * aliased at 0 on the STM32, 0x10000000 - the Secure alias - on the AN505). The
 * link uses -nostartfiles, so newlib's crt0 does not run; this file does its job:
 *   1. switch the FPU on (CPACR) before any compiler-generated FP instruction,
 *   2. paint the stack, so board_stack_used() can report the high-water mark,
 *   3. copy .data from its load address in flash to RAM, zero .bss,
 *   4. open the semihosting console (initialise_monitor_handles, rdimon's crt0 job),
 *   5. run constructors, then exit(main()) - exit() flushes stdio, then _exit()
 *      (board.c) hands main's status to QEMU.
 */
#include <stdint.h>
#include <stdlib.h>
#include "board.h"

extern uint32_t __StackTop[], __StackLimit[];
extern uint32_t __data_load__[], __data_start__[], __data_end__[];
extern uint32_t __bss_start__[], __bss_end__[];
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);

#define STACK_PAINT 0xC0FFEE11u   /* keep equal to board.c */

/* __libc_init_array() calls _init(); crti.o, which defines it, is not linked. */
void _init(void) {}
void _fini(void) {}

void Reset_Handler(void);
void c_startup(void) __attribute__((noreturn, used));

/* Any exception is a bug here (nothing enables an interrupt): say so and stop
 * with status 100, so a crashed firmware ends the QEMU run instead of hanging. */
static void Fault_Handler(void)
{
    board_puts("mt: fault (unexpected exception)\n");
    board_exit(100);
}

/* 16 system vectors + 16 external interrupts, all unused. */
__attribute__((section(".vectors"), used))
void (*const vector_table[32])(void) = {
    (void (*)(void))__StackTop,   /*  0 initial main stack pointer */
    Reset_Handler,                /*  1 reset                      */
    Fault_Handler,                /*  2 NMI                        */
    Fault_Handler,                /*  3 HardFault                  */
    Fault_Handler,                /*  4 MemManage                  */
    Fault_Handler,                /*  5 BusFault                   */
    Fault_Handler,                /*  6 UsageFault                 */
    Fault_Handler,                /*  7 SecureFault (ARMv8-M)      */
    0, 0, 0,
    Fault_Handler,                /* 11 SVCall                     */
    Fault_Handler,                /* 12 DebugMonitor               */
    0,
    Fault_Handler,                /* 14 PendSV                     */
    Fault_Handler,                /* 15 SysTick                    */
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
};

/* In assembly, so that no compiler-generated code (an inlined memcpy may use
 * s0-s31) runs before the FPU is on: CPACR bits 20-23 give CP10/CP11 full access. */
__attribute__((naked)) void Reset_Handler(void)
{
    __asm__ volatile(
#if defined(__ARM_FP)
        "ldr  r0, =0xE000ED88      \n"
        "ldr  r1, [r0]             \n"
        "orr  r1, r1, #(0xF << 20) \n"
        "str  r1, [r0]             \n"
        "dsb                       \n"
        "isb                       \n"
#endif
        "b    c_startup            \n"
        ".ltorg                    \n");
}

void c_startup(void)
{
    /* Paint the stack below the current frame (leaving 64 bytes of margin). */
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __StackLimit; p < sp - 16; p++)
        *p = STACK_PAINT;

    uint32_t *src = __data_load__, *dst = __data_start__;
    while (dst < __data_end__)
        *dst++ = *src++;
    for (dst = __bss_start__; dst < __bss_end__; dst++)
        *dst = 0;

    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}
