/* Test plugin: encode() fails with a message holding a newline, commas and
 * quotes, the text a results.csv must carry through a resume intact. */
#define FAULT_ENCODE_MISBEHAVE(m)                                                             \
    return (m)->host->fail((m)->host, ECB_EINVAL,                                             \
                           "first line, with a comma\nsecond \"quoted\" line,\r\nthird")
#include "fault_common.h"

FAULT_VTABLE("fault_msg", "test plugin: fails in encode with a multi-line message");
ECB_EXPORT const ecb_method_vtable *ecb_method_fault_msg(void) { return &fault_vtable; }
