/* internal.h - what the cli/ files share with each other but not with tools. */
#ifndef IRIS_CLI_INTERNAL_H
#define IRIS_CLI_INTERNAL_H

#include <stddef.h>

/* A set of strings (copies), for de-duplicating paths and resume keys. */
typedef struct cli_strset {
    char **slot;
    size_t cap, n;
} cli_strset;

/* 1 if added, 0 if already present, -1 out of memory. */
int cli_strset_add(cli_strset *s, const char *str, size_t len);
int cli_strset_has(const cli_strset *s, const char *str, size_t len);
void cli_strset_free(cli_strset *s);

/* The status line (progress bar) at the bottom of the terminal. Messages
   and stdout writes hide it while they print and show it again after. */
void cli_status_show(const char *line);
void cli_status_clear(void);  /* hide and forget */
void cli_status_suspend(void); /* hide, keep for cli_status_resume */
void cli_status_resume(void);
int cli_log_quiet(void);
/* One line to stderr (or the log sink) whatever the verbosity. */
void cli_log_line(const char *line);

/* A growing text buffer; on allocation failure it keeps ok = 0. */
typedef struct cli_text {
    char *s;
    size_t len, cap;
    int ok;
} cli_text;
void cli_text_put(cli_text *t, const char *s, size_t n);
void cli_text_puts(cli_text *t, const char *s);
void cli_text_printf(cli_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_text_pad(cli_text *t, size_t col); /* spaces up to column col of the current line */

#endif
