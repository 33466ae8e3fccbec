/* lines.c - a small text file as its lines: class names, labels, prompts. */
#include <stdlib.h>
#include <string.h>

#include "../core/file.h"
#include "cli.h"

char **iris_cli_read_lines(const char *path, int *n) {
    char *text;
    *n = 0;
    if (iris_read_file(path, &text, NULL)) return NULL;
    int cap = 64;
    char **v = malloc(sizeof *v * (size_t)cap);
    for (char *save = NULL, *line = v ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = 0; /* CRLF files, stray blanks */
        if (*n == cap) {
            char **nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
            if (!nv) break;
            v = nv;
        }
        if (!(v[*n] = strdup(line))) break;
        (*n)++;
    }
    free(text);
    if (!v) iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    return v;
}

void iris_cli_free_lines(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}
