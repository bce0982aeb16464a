/* insncount.c - QEMU TCG plugin: exact guest instruction counts between two markers.
 *
 *   qemu-system-arm ... -plugin insncount.so,start=0xADDR,stop=0xADDR,out=FILE
 *
 * start/stop: the addresses of the firmware's bench_start() and bench_stop()
 * (the Thumb bit is ignored). When the first instruction of bench_start()
 * executes, a region opens; when the first instruction of bench_stop() executes,
 * it closes and one line is appended to FILE:
 *     region <k> <instructions>
 * and at exit one line "total <instructions>" for the whole run.
 *
 * Every translated guest instruction gets an inline 64-bit add (no call), so the
 * count is exact and, for a single-core machine without timers in play, the same
 * on every run. (Counting per translation block would be faster but over-counts
 * whenever a block is left part-way, e.g. by an exception.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "qemu_plugin_min.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t executed;                 /* instructions so far, bumped inline */
static uint64_t start_pc = UINT64_MAX, stop_pc = UINT64_MAX;
static uint64_t region_begin;
static int region_open, region_index;
static FILE *out;

/* Both markers are handled alike, so a region spans from bench_start()'s first
 * instruction to bench_stop()'s first with exactly one of the two counted (which
 * one depends on whether QEMU runs an instruction's callback before or after its
 * inline add). Either way the markers add a constant, which the firmware's empty
 * region 0 measures and pyconvert subtracts. */
static void on_start(unsigned int vcpu, void *userdata)
{
    (void)vcpu, (void)userdata;
    region_begin = executed;
    region_open = 1;
}

static void on_stop(unsigned int vcpu, void *userdata)
{
    (void)vcpu, (void)userdata;
    if (!region_open)
        return;
    fprintf(out, "region %d %" PRIu64 "\n", region_index++, executed - region_begin);
    fflush(out);                          /* the guest may end QEMU at any moment */
    region_open = 0;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == start_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (pc == stop_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id, (void)userdata;
    fprintf(out, "total %" PRIu64 "\n", executed);
    fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "start=", 6))
            start_pc = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        else if (!strncmp(argv[i], "stop=", 5))
            stop_pc = strtoull(argv[i] + 5, NULL, 0) & ~1ull;
        else if (!strncmp(argv[i], "out=", 4))
            path = argv[i] + 4;
        else {
            fprintf(stderr, "insncount: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (!path || !(out = fopen(path, "w"))) {
        fprintf(stderr, "insncount: needs out=FILE (a writable path)\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
