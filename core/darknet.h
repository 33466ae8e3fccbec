/* darknet.h - readers for darknet .cfg network descriptions and .weights files.

   A .cfg is a list of sections in order ([net], [convolutional], [route], ...),
   each with key=value options. Lines are trimmed; blank lines and lines
   starting with '#' or ';' are comments, as is anything after a '#' or ';'
   on an option line. As in darknet, the first of two equal keys in a
   section wins. Getters parse strictly: "filters=3x" is an error naming the
   file, line and key, never a silent 3.

       iris_darknet_cfg cfg;
       if (iris_darknet_cfg_open(&cfg, "yolo-fastest-1.1.cfg")) { puts(iris_last_error()); return 1; }
       for (int i = 0; i < cfg.n_sections; i++) {
           iris_darknet_section *s = &cfg.sections[i];
           if (strcmp(s->type, "convolutional")) continue;
           int filters, size;
           iris_darknet_int(s, "filters", 1, &filters);   // default 1 when absent
           iris_darknet_int(s, "size", 1, &size);
           ...
           if (iris_darknet_check_unused(s)) ...           // an option nobody read: refuse it
       }
       iris_darknet_cfg_close(&cfg);

   A .weights file is a header -- int32 major, minor, revision, then "seen"
   as a 64-bit count when major*10+minor >= 2 and as int32 before that -- and
   then float32 parameters in layer order. The reader is a cursor: each layer
   takes the next n floats, and running short is an error, not garbage.

       iris_darknet_weights w;
       iris_darknet_weights_open(&w, "yolo-fastest-1.1.weights");
       float bias[16];
       if (iris_darknet_weights_read(&w, bias, 16, "layer 0 biases")) puts(iris_last_error());
       ... iris_darknet_weights_remaining(&w) == 0 at the end ...
       iris_darknet_weights_close(&w);
*/
#ifndef IRIS_DARKNET_H
#define IRIS_DARKNET_H

#include <stddef.h>
#include <stdint.h>

#include "file.h"
#include "tensor.h"

typedef struct iris_darknet_option {
    const char *key, *value; /* trimmed, NUL-terminated */
    int line;
    int used; /* set by the getters */
} iris_darknet_option;

typedef struct iris_darknet_section {
    const char *type; /* "net", "convolutional", ... (without brackets) */
    int line;         /* line of the [header] */
    int n_opts;
    iris_darknet_option *opts;
    const char *file; /* for messages */
} iris_darknet_section;

typedef struct iris_darknet_cfg {
    int n_sections;
    iris_darknet_section *sections; /* in file order */
    /* private */
    char *path, *text;
    iris_darknet_option *all_opts;
} iris_darknet_cfg;

iris_status iris_darknet_cfg_open(iris_darknet_cfg *cfg, const char *path);
/* Same on text in memory (n bytes, need not be NUL-terminated); `name` appears in messages. */
iris_status iris_darknet_cfg_parse(iris_darknet_cfg *cfg, const char *text, size_t n, const char *name);
void iris_darknet_cfg_close(iris_darknet_cfg *cfg);

/* Number of sections of a type ("convolutional"); index of the k-th one or -1. */
int iris_darknet_count(const iris_darknet_cfg *cfg, const char *type);
int iris_darknet_find(const iris_darknet_cfg *cfg, const char *type, int k);

/* The option's value, or NULL if absent (marks it used). */
const char *iris_darknet_value(iris_darknet_section *s, const char *key);
const char *iris_darknet_str(iris_darknet_section *s, const char *key, const char *def);
/* Absent key: *out = def and IRIS_OK. Present but not a number in range: IRIS_ERR_FORMAT. */
iris_status iris_darknet_int(iris_darknet_section *s, const char *key, int def, int *out);
iris_status iris_darknet_float(iris_darknet_section *s, const char *key, float def, float *out);
/* Comma-separated lists ("anchors = 10,14,  23,27", "layers=-1,8"). The item count
   (0 when absent) goes to *n; more than `max` items is an error. */
int iris_darknet_list_len(const iris_darknet_section *s, const char *key);
iris_status iris_darknet_ints(iris_darknet_section *s, const char *key, int *out, int max, int *n);
iris_status iris_darknet_floats(iris_darknet_section *s, const char *key, float *out, int max, int *n);
/* IRIS_ERR_UNSUPPORTED naming the first option no getter has read, so a model
   can refuse an option it would otherwise silently ignore. */
iris_status iris_darknet_check_unused(const iris_darknet_section *s);

typedef struct iris_darknet_weights {
    iris_map map;        /* map.path names the file; map.data is NULL after _parse */
    const uint8_t *data; /* the whole file */
    size_t size;
    int32_t major, minor, revision;
    uint64_t seen;
    size_t header_bytes; /* 20 (64-bit seen) or 16 */
    size_t pos;          /* byte offset of the next float */
} iris_darknet_weights;

iris_status iris_darknet_weights_open(iris_darknet_weights *w, const char *path);
/* Same on a caller's buffer, which must outlive w. */
iris_status iris_darknet_weights_parse(iris_darknet_weights *w, const uint8_t *data, size_t size, const char *name);
void iris_darknet_weights_close(iris_darknet_weights *w);
/* Floats not yet read. */
uint64_t iris_darknet_weights_remaining(const iris_darknet_weights *w);
/* Copies the next n floats into dst (or skips them when dst is NULL); `what`
   names them in the error when fewer than n remain, and the cursor stays put. */
iris_status iris_darknet_weights_read(iris_darknet_weights *w, float *dst, size_t n, const char *what);

#endif
