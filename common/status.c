/* status.c — names and formats fp_status failures; see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const STATUS_NAMES[FP_STATUS_COUNT] = {
    [FP_OK] = "OK",           [FP_EINVAL] = "EINVAL",     [FP_ENOMEM] = "ENOMEM",
    [FP_EIO] = "EIO",         [FP_EFORMAT] = "EFORMAT",   [FP_ELIMIT] = "ELIMIT",
    [FP_EVERSION] = "EVERSION", [FP_ENOTFOUND] = "ENOTFOUND", [FP_ESTATE] = "ESTATE",
    [FP_EDB] = "EDB",         [FP_ENET] = "ENET",         [FP_ETIMEOUT] = "ETIMEOUT",
    [FP_ENUMERIC] = "ENUMERIC",
};

const char *fp_status_name(fp_status status)
{
    if ((unsigned)status >= FP_STATUS_COUNT)
        return "EUNKNOWN";
    return STATUS_NAMES[status];
}

fp_status fp_fail(fp_error *err, fp_status status, const char *fmt, ...)
{
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

fp_status fp_wrap(fp_error *err, const char *fmt, ...)
{
    if (!err)
        return FP_EINVAL;
    char prefix[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    /* Truncation is the intended behaviour for an over-long reason. */
    int n = snprintf(err->msg, sizeof err->msg, "%s: ", prefix);
    if (n > 0 && (size_t)n < sizeof err->msg)
        strncat(err->msg, old, sizeof err->msg - (size_t)n - 1);
    return err->status;
}

int fp_exit_code_for_setup(fp_status status)
{
    switch (status) {
    case FP_EINVAL:
    case FP_EIO:
    case FP_EFORMAT:
    case FP_ELIMIT:
    case FP_EVERSION:
    case FP_ENOTFOUND:
    case FP_ESTATE:
    case FP_ENUMERIC:
        return FP_EXIT_INPUT;
    default:
        return FP_EXIT_FAILURE;
    }
}
