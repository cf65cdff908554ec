/* Test plugin: encode() dereferences a null pointer (SIGSEGV). */
#include <signal.h>

static void fault_segv_now(void)
{
    volatile int *p = (volatile int *)(unsigned long)(0);
    *p = 1;
    raise(SIGSEGV); /* in case the store was optimised into something else */
}

#define FAULT_ENCODE_MISBEHAVE(m) ((void)(m), fault_segv_now())
#include "fault_common.h"

FAULT_VTABLE("fault_segv", "test plugin: segfaults in encode");
ECB_EXPORT const ecb_method_vtable *ecb_method_fault_segv(void) { return &fault_vtable; }
