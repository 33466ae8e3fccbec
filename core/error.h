/* error.h - status codes and the last error message.

   Every public iris_ function returns an iris_status (IRIS_OK is 0) or, for
   functions that build tensors, NULL plus a sticky status on the context.
   The message of the most recent failure on this thread names the file or
   object and the problem; command-line tools print it, the library never does.

       if (iris_safetensors_open(&st, path) != IRIS_OK)
           fprintf(stderr, "error: %s\n", iris_last_error());
*/
#ifndef IRIS_ERROR_H
#define IRIS_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum iris_status {
    IRIS_OK = 0,
    IRIS_ERR_ARG,         /* caller passed something invalid */
    IRIS_ERR_IO,          /* open/read/write/rename failed */
    IRIS_ERR_FORMAT,      /* file content is malformed, truncated or hostile */
    IRIS_ERR_SHAPE,       /* tensor shapes/dtypes do not fit the op or model */
    IRIS_ERR_NOMEM,       /* allocation failed or arena exhausted */
    IRIS_ERR_UNSUPPORTED, /* valid request we do not implement (yet) */
    IRIS_ERR_DEVICE,      /* accelerator runtime failure */
    IRIS_ERR_NOT_FOUND,   /* named tensor/key/file does not exist */
    IRIS_ERR_CANCELLED,   /* an abort callback asked us to stop */
} iris_status;

/* Records a failure for this thread and returns `st`, so callers can write
   `return iris_fail(IRIS_ERR_FORMAT, "%s: header truncated", path);` */
iris_status iris_fail(iris_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Message of the most recent iris_fail on this thread ("" if none). */
const char *iris_last_error(void);

/* Short fixed name of a status, e.g. "format error". */
const char *iris_status_name(iris_status st);

void iris_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
