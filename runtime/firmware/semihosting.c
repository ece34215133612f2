/*
 * Memory layout of a semihosted image (the one QEMU runs), made the same on every machine.
 *
 * newlib's rdimon crt0 takes the stack pointer and the heap limit from the SYS_HEAPINFO semihosting call, and
 * QEMU answers it with a guess: the middle of the largest RAM region it finds, which on mps3-an547 is the ITCM
 * holding the code while the heap starts after .bss in the DTCM, so every malloc (and so every fopen) fails.
 * Linking with -Wl,--wrap=main puts __wrap_main below between crt0 and main: it moves the stack into the RAM
 * region of firmware/link.ld, to its top, where a board's startup puts it too; _sbrk below replaces rdimon's (a
 * weak symbol) and grows the heap from the end of .bss up to the stack, less a guard.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define EL_STACK_GUARD 1024

extern char end[]; /* sections.ld: end of .bss, start of the heap; __stack_top is the top of RAM */

void *_sbrk(ptrdiff_t increment);
void __wrap_main(void);

/* crt0 calls main(argc, argv) with both in r0 and r1, and argv's array on its stack: they pass through untouched
 * to the real main, and its result goes to exit() as crt0 would do. The stack moves only when it is outside
 * (end, __stack_top]; inside, as on the micro:bit, moving it to the top would overwrite argv. Naked: nothing may
 * use the old stack once sp has moved. */
__attribute__((naked, noreturn)) void __wrap_main(void)
{
    __asm volatile("mov r3, sp\n\t"
                   "ldr r2, =__stack_top\n\t"
                   "cmp r3, r2\n\t"
                   "bhi 1f\n\t"
                   "ldr r2, =end\n\t"
                   "cmp r3, r2\n\t"
                   "bhi 2f\n"
                   "1:\n\t"
                   "ldr r2, =__stack_top\n\t"
                   "mov sp, r2\n"
                   "2:\n\t"
                   "bl __real_main\n\t"
                   "bl exit\n\t"
                   ".ltorg");
}

void *_sbrk(ptrdiff_t increment)
{
    static char *brk = end;
    char *sp, *old = brk;
    __asm volatile("mov %0, sp" : "=r"(sp));
    if (increment > (sp - EL_STACK_GUARD) - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    brk += increment;
    return old;
}
