/*
 * What the QEMU image measures around every <prefix>_invoke(). Linked into the semihosted image only, with
 * -Wl,--wrap=<prefix>_invoke so that main.c's call lands in __wrap_<prefix>_invoke below, and compiled with
 * -DEL_PREFIX=<prefix>. The model and main.c are not changed by it.
 *
 * Instructions: el_probe_marker() is called just before and just after the real invoke. The QEMU plugin
 * (runtime/qemu/insn_count.c) records its running instruction count each time the marker's first instruction
 * executes, so two consecutive records differ by the instructions of invoke and everything it calls, plus 3 or 4
 * of the calls around it: bl invoke, bl marker, the marker's bx lr, and the register move of invoke's result when
 * the compiler places it between the calls (it does on the M0).
 *
 * Stack: before the call, the free stack below this frame (down to the heap, at most EL_PROBE_STACK_BYTES) is
 * painted with a pattern; after it, the deepest word no longer holding the pattern is the stack high-water mark
 * of invoke and of every function it reaches, libm and libgcc included. It is printed on the semihosting
 * console as "edgelower-probe: stack_bytes=N" (N is a lower bound flagged with "overflow" if the painted region
 * was used up).
 */
#define _DEFAULT_SOURCE /* sbrk in newlib's <unistd.h> */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#ifndef EL_PREFIX
#error "compile probe.c with -DEL_PREFIX=<the model's C prefix>"
#endif
#ifndef EL_PROBE_STACK_BYTES
#define EL_PROBE_STACK_BYTES (64 * 1024)
#endif

#define EL_PAINT 0xA5C3E10Fu
/* Kept unpainted between the heap's end and the painted region, for the allocations printf may still make. */
#define EL_HEAP_SLACK 1024u

#define EL_CAT_(a, b) a##b
#define EL_CAT(a, b) EL_CAT_(a, b)
#define EL_REAL_INVOKE EL_CAT(__real_, EL_CAT(EL_PREFIX, _invoke))
#define EL_WRAP_INVOKE EL_CAT(__wrap_, EL_CAT(EL_PREFIX, _invoke))

int EL_REAL_INVOKE(void);
int EL_WRAP_INVOKE(void);
void el_probe_marker(void);

/* Out of line and with a side effect the compiler must keep: the plugin keys on this function's address. */
__attribute__((noinline)) void el_probe_marker(void)
{
    __asm volatile("" ::: "memory");
}

int EL_WRAP_INVOKE(void)
{
    uint32_t *sp;
    uintptr_t heap_end, low;
    volatile uint32_t *p;
    int status;

    __asm volatile("mov %0, sp" : "=r"(sp));
    /* semihosting.c keeps the heap below the stack in one RAM region: paint the gap, at most the probe size. */
    heap_end = ((uintptr_t)sbrk(0) + EL_HEAP_SLACK + 3u) & ~(uintptr_t)3u;
    low = (uintptr_t)sp > EL_PROBE_STACK_BYTES ? (uintptr_t)sp - EL_PROBE_STACK_BYTES : 0;
    if (low < heap_end) {
        low = heap_end < (uintptr_t)sp ? heap_end : (uintptr_t)sp;
    }
    /* volatile stores: a memset call here would push its own frame into the region it is painting. */
    for (p = (volatile uint32_t *)low; p < (volatile uint32_t *)sp; ++p) {
        *p = EL_PAINT;
    }

    el_probe_marker();
    status = EL_REAL_INVOKE();
    el_probe_marker();

    for (p = (volatile uint32_t *)low; p < (volatile uint32_t *)sp && *p == EL_PAINT; ++p) {
    }
    printf("edgelower-probe: stack_bytes=%lu%s\n", (unsigned long)((uintptr_t)sp - (uintptr_t)p),
           (uintptr_t)p == low ? " overflow" : "");
    return status;
}
