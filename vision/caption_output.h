/* caption_output.h - the caption tool's CSV file and photo.txt side files.

   CSV (RFC 4180): a header "file,caption,tokens,seconds", then one record per photo, each written
   with one write() of the whole record (O_APPEND), so a killed run leaves whole records and at most
   one torn last record, which opening cuts away. With resume the files already in it are known.
   Fields with a comma, a quote, CR or LF, or white space at either end are quoted, quotes doubled. */
#ifndef IRIS_CAPTION_OUTPUT_H
#define IRIS_CAPTION_OUTPUT_H

#include <stddef.h>

#include "../core/error.h"

/* s as one CSV field (quoted when it must be); malloc'd, NULL when out of memory. */
char *iris_caption_csv_field(const char *s);

typedef struct iris_caption_csv iris_caption_csv;

/* path NULL or "-": stdout (no resume). An existing file is appended to (after repairing a torn
   last record); the header is written when the file is empty. */
iris_status iris_caption_csv_open(iris_caption_csv **out, const char *path, int resume, int fsync_each);
int iris_caption_csv_is_done(const iris_caption_csv *c, const char *file);
size_t iris_caption_csv_n_done(const iris_caption_csv *c);
size_t iris_caption_csv_n_torn(const iris_caption_csv *c);
iris_status iris_caption_csv_write(iris_caption_csv *c, const char *file, const char *caption, int tokens,
                                   double seconds);
iris_status iris_caption_csv_close(iris_caption_csv *c);

/* "dir/photo.jpg" -> "dir/photo.txt" (the extension replaced, or .txt appended); 0 when it does not fit. */
int iris_caption_txt_path(const char *image, char *buf, size_t n);
/* Writes text and a newline to path through a temporary file and a rename (never a half file). */
iris_status iris_caption_txt_write(const char *path, const char *text);

#endif
