/* Test plugin: encode() never returns (a busy loop the compiler may not
 * remove: it reads a volatile). */
static void fault_hang_now(void)
{
    volatile unsigned long spin = 0;
    for (;;) spin = spin + 1;
}

#define FAULT_ENCODE_MISBEHAVE(m) ((void)(m), fault_hang_now())
#include "fault_common.h"

FAULT_VTABLE("fault_hang", "test plugin: loops forever in encode");
ECB_EXPORT const ecb_method_vtable *ecb_method_fault_hang(void) { return &fault_vtable; }
