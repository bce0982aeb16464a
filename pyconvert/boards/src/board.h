/* board.h - the board support every pyconvert firmware links (QEMU Cortex-M boards).
 *
 * All I/O goes through ARM semihosting (BKPT 0xAB): newlib's librdimon turns
 * fopen/fread/fwrite into host file operations in QEMU's working directory, and
 * the few calls below talk to the host directly, without stdio (they are safe in
 * a fault handler and cost no printf in flash). The same code runs on a real
 * board under a debugger that implements semihosting (OpenOCD, pyOCD, J-Link).
 */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

/* Write a NUL-terminated string to the host console (SYS_WRITE0). */
void board_puts(const char *s);

/* Write "<key>=<value>\n" with value in decimal (no printf needed). */
void board_put_value(const char *key, uint32_t value);

/* End the program: QEMU exits with this status (SYS_EXIT_EXTENDED). */
void board_exit(int code) __attribute__((noreturn));

/* The semihosting command line (QEMU: -semihosting-config arg=...,arg=...) into
 * buf as one NUL-terminated string; returns 0, or -1 when the host has none. */
int board_cmdline(char *buf, int size);

/* Bytes of the reserved stack ever written (startup paints it; this finds the
 * lowest word no longer holding the paint), and bytes the heap handed out. */
uint32_t board_stack_used(void);
uint32_t board_heap_used(void);

/* Region markers for the instruction-counting QEMU plugin (plugin/insncount.c):
 * it counts the guest instructions executed from entering bench_start() to
 * entering bench_stop(). Regions are numbered 0, 1, 2, ... in execution order. */
void bench_start(void);
void bench_stop(void);

#endif /* BOARD_H */
