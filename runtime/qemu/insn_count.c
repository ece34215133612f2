/*
 * A QEMU TCG plugin that counts executed guest instructions, exactly and deterministically.
 *
 *     qemu-system-arm ... -plugin libinsn_count.so,marker=0x1234,out=counts.txt
 *
 * Every translated block adds its instruction count to `executed` inline, when it starts executing; every
 * execution of the instruction at guest address `marker` appends the running count to a list. At exit it writes
 *     executed <total instructions>
 *     marks <count at 1st marker> <count at 2nd marker> ...
 * to `out`. A single vCPU without interrupts runs the same blocks in the same order every time, so the same image
 * on the same inputs gives the same numbers. Blocks end at every branch, so a marker function's first
 * instruction always starts a block and each record includes the whole of every block executed before it.
 *
 * Debian ships neither QEMU's plugins nor qemu-plugin.h, so the declarations used are written out here from the
 * QEMU 7.2 API (plugin API version 1). A QEMU with another API version refuses to load the plugin.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

#define EXPORT __attribute__((visibility("default")))
EXPORT extern int qemu_plugin_version;
EXPORT int qemu_plugin_version = 1;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

#define MAX_MARKS 4096

static uint64_t executed;
static uint64_t marker = UINT64_MAX;
static uint64_t marks[MAX_MARKS];
static size_t n_marks;
static int marks_dropped;
static char out_path[4096]; /* copied: QEMU frees argv once install returns */

static void on_marker(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (n_marks < MAX_MARKS) {
        marks[n_marks++] = executed;
    } else {
        marks_dropped = 1;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (qemu_plugin_insn_vaddr(insn) == marker) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    size_t i;
    FILE *f = fopen(out_path, "w");
    (void)id;
    (void)userdata;
    if (!f) {
        perror(out_path);
        return;
    }
    fprintf(f, "executed %" PRIu64 "\nmarks", executed);
    for (i = 0; i < n_marks; ++i) {
        fprintf(f, " %" PRIu64, marks[i]);
    }
    fprintf(f, "%s\n", marks_dropped ? " dropped" : "");
    fclose(f);
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "marker=", 7) == 0) {
            marker = strtoull(argv[i] + 7, NULL, 0);
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            if (snprintf(out_path, sizeof out_path, "%s", argv[i] + 4) >= (int)sizeof out_path) {
                fprintf(stderr, "insn_count: out path too long\n");
                return -1;
            }
        } else {
            fprintf(stderr, "insn_count: unknown argument %s (takes marker=ADDR,out=PATH)\n", argv[i]);
            return -1;
        }
    }
    if (!out_path[0]) {
        fprintf(stderr, "insn_count: needs out=PATH\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
