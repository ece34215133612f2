/*
 * Reset and exception vectors for a Cortex-M image of an edgelower model (every core, with or without an FPU).
 *
 * sections.ld puts the initial stack pointer in the first vector-table word and this table after it. On reset:
 * enable the FPU if the build uses one (until CPACR grants CP10/CP11, every float instruction faults), copy .data
 * from its load image in flash, then
 *   - built with EL_SEMIHOSTING (the image QEMU runs): continue in newlib's rdimon crt0 `_start`, which zeroes
 *     .bss, gets argv from the debugger (QEMU) through semihosting, sets up stdio and calls main(argc, argv)
 *     by way of semihosting.c; main's return value becomes QEMU's exit status;
 *   - otherwise (a bare image, as on a board): zero .bss and call main(), as a CMSIS startup file does.
 * A fault or any other exception ends a semihosted run with status EL_FAULT_STATUS rather than spinning until the
 * host's timeout; a bare image spins in Default_Handler, where a debugger finds it.
 */
#include <stdint.h>

#define EL_FAULT_STATUS 99

/* Symbols of sections.ld, declared as words: only their addresses are used. */
extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;

void Reset_Handler(void);
void Default_Handler(void);

#ifdef EL_SEMIHOSTING
void _start(void) __attribute__((noreturn));
void _exit(int status) __attribute__((noreturn));
#else
int main(void);
#endif

void Default_Handler(void)
{
#ifdef EL_SEMIHOSTING
    _exit(EL_FAULT_STATUS);
#else
    for (;;) {
    }
#endif
}

void Reset_Handler(void)
{
    volatile uint32_t *dst = &__data_start__;
    const volatile uint32_t *src = &__data_load__;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* SCB->CPACR: full access to CP10 and CP11 */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    /* volatile: a loop the compiler turned into a memcpy/memset call would run before the C library is set up. */
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
#ifdef EL_SEMIHOSTING
    _start();
#else
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0;
    }
    (void)main();
    for (;;) {
    }
#endif
}

/* Exceptions 1..15 of the ARMv6-M/ARMv7-M/ARMv8-M vector table; entry 0, the initial SP, comes from sections.ld.
 * A board adds its device interrupts after these. */
__attribute__((section(".vectors"), used)) void (*const el_vectors[15])(void) = {
    Reset_Handler,   /* 1  reset */
    Default_Handler, /* 2  NMI */
    Default_Handler, /* 3  HardFault */
    Default_Handler, /* 4  MemManage */
    Default_Handler, /* 5  BusFault */
    Default_Handler, /* 6  UsageFault */
    Default_Handler, /* 7  SecureFault (ARMv8-M) */
    0,
    0,
    0,
    Default_Handler, /* 11 SVCall */
    Default_Handler, /* 12 DebugMonitor */
    0,
    Default_Handler, /* 14 PendSV */
    Default_Handler, /* 15 SysTick */
};
