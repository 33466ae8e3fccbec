/* error.c - thread-local last error message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_msg[1024];

iris_status iris_fail(iris_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    return st;
}

const char *iris_last_error(void) { return last_msg; }

void iris_clear_error(void) { last_msg[0] = 0; }

const char *iris_status_name(iris_status st) {
    switch (st) {
    case IRIS_OK: return "ok";
    case IRIS_ERR_ARG: return "invalid argument";
    case IRIS_ERR_IO: return "i/o error";
    case IRIS_ERR_FORMAT: return "format error";
    case IRIS_ERR_SHAPE: return "shape error";
    case IRIS_ERR_NOMEM: return "out of memory";
    case IRIS_ERR_UNSUPPORTED: return "unsupported";
    case IRIS_ERR_DEVICE: return "device error";
    case IRIS_ERR_NOT_FOUND: return "not found";
    case IRIS_ERR_CANCELLED: return "cancelled";
    }
    return "unknown error";
}
