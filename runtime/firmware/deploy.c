/*
 * The smallest firmware holding a model: startup.c, this main and what <prefix>_invoke() reaches. edgelower links
 * it (never runs it) to read the model's flash and static RAM from the ELF; compiled with -DEL_PREFIX=<prefix>.
 * In a real application this is where inputs are written to <prefix>_input(i) and outputs read from
 * <prefix>_output(i).
 */
#ifndef EL_PREFIX
#error "compile deploy.c with -DEL_PREFIX=<the model's C prefix>"
#endif

#define EL_CAT_(a, b) a##b
#define EL_CAT(a, b) EL_CAT_(a, b)
#define EL_INVOKE EL_CAT(EL_PREFIX, _invoke)

int EL_INVOKE(void);
int main(void);

int main(void)
{
    return EL_INVOKE();
}
