/* board.c - semihosting calls, exit, heap, stack high-water mark, bench markers. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include "board.h"

/* ---- ARM semihosting: operation in r0, argument block in r1, result in r0 ---- */
#define SYS_WRITE0        0x04
#define SYS_GET_CMDLINE   0x15
#define SYS_EXIT          0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUNTIME_ERROR    0x20023

static int semihost(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_puts(const char *s)
{
    semihost(SYS_WRITE0, (void *)s);
}

void board_put_value(const char *key, uint32_t value)
{
    char digits[12];
    char *p = digits + sizeof digits;
    *--p = '\0';
    do {
        *--p = (char)('0' + value % 10u);
        value /= 10u;
    } while (value);
    board_puts(key);
    board_puts("=");
    board_puts(p);
    board_puts("\n");
}

void board_exit(int code)
{
    /* SYS_EXIT_EXTENDED carries the whole status, so QEMU's own exit status is
     * main()'s return value. Plain SYS_EXIT (ok / error only) is the fallback
     * for a host that lacks the extension. */
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    semihost(SYS_EXIT, (void *)(uintptr_t)(code ? ADP_STOPPED_RUNTIME_ERROR
                                                : ADP_STOPPED_APPLICATION_EXIT));
    for (;;) {
    }
}

/* newlib's exit() ends in _exit(): ours, so the status always reaches QEMU
 * (rdimon's own _exit first probes the host's extensions through a file). */
void _exit(int code)
{
    board_exit(code);
}

int board_cmdline(char *buf, int size)
{
    struct { char *buf; int size; } block = {buf, size};
    return semihost(SYS_GET_CMDLINE, &block) == 0 ? 0 : -1;
}

/* ---- heap: newlib's malloc (stdio's FILE structs) grows through _sbrk ---- */
/* The linker script reserves [__heap_start__, __heap_end__) as the .heap section,
 * so the heap counts in the RAM budget and can never run into the stack. */
extern char __heap_start__[], __heap_end__[];
static char *heap_top = __heap_start__;

void *_sbrk(ptrdiff_t increment)
{
    if (increment > __heap_end__ - heap_top || increment < __heap_start__ - heap_top) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *previous = heap_top;
    heap_top += increment;
    return previous;
}

uint32_t board_heap_used(void)
{
    return (uint32_t)(heap_top - __heap_start__);
}

/* ---- stack: painted by startup.c from __StackLimit up to the live frame ---- */
extern uint32_t __StackLimit[], __StackTop[];
#define STACK_PAINT 0xC0FFEE11u   /* keep equal to startup.c */

uint32_t board_stack_used(void)
{
    const uint32_t *p = __StackLimit;
    while (p < __StackTop && *p == STACK_PAINT)
        p++;
    return (uint32_t)((const char *)__StackTop - (const char *)p);
}

/* ---- bench markers ---- */
/* They do nothing; the plugin watches their first instruction. noipa keeps GCC
 * from inlining, cloning or dropping a call to a function it can see is empty,
 * and the asm memory clobber keeps work from being moved across a marker. */
__attribute__((noipa, noinline)) void bench_start(void)
{
    __asm__ volatile("" ::: "memory");
}

__attribute__((noipa, noinline)) void bench_stop(void)
{
    __asm__ volatile("" ::: "memory");
}
