/* Error codes and the per-thread error message (libuv's errno map, faiss's
 * last-error). */
#include <stdio.h>
#include <string.h>

#include "common/ecb.h"

static _Thread_local char last_msg[2048];

const char *ecb_errname(int code)
{
    switch (code) {
    case 0: return "OK";
#define ECB_X_(name, val, msg) case val: return #name;
    ECB_ERRNO_MAP(ECB_X_)
#undef ECB_X_
    default: return "EUNKNOWN";
    }
}

const char *ecb_strerror(int code)
{
    switch (code) {
    case 0: return "success";
#define ECB_X_(name, val, msg) case val: return msg;
    ECB_ERRNO_MAP(ECB_X_)
#undef ECB_X_
    default: return "unknown error";
    }
}

int ecb_vfail(int code, const char *fmt, va_list ap)
{
    /* Callers often wrap the previous message ("%s", ecb_last_error()), so
     * format into a scratch buffer first: the source may be last_msg. */
    char tmp[sizeof last_msg];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(last_msg, tmp, sizeof tmp);
    return code;
}

int ecb_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ecb_vfail(code, fmt, ap);
    va_end(ap);
    return code;
}

const char *ecb_last_error(void)
{
    return last_msg[0] ? last_msg : "no error message";
}

void ecb_clear_error(void) { last_msg[0] = '\0'; }
