/* file.h - read-only file mappings and crash-safe writes.

   Loaders map their file and treat every byte as hostile: check a range
   with iris_map_range before touching it. Writers never leave a half
   file behind: iris_write_atomic writes "<path>.tmp.<pid>" and renames it.
*/
#ifndef IRIS_FILE_H
#define IRIS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct iris_map {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
    char path[512];
} iris_map;

iris_status iris_map_open(iris_map *m, const char *path);
void iris_map_close(iris_map *m);
/* 1 if [off, off+len) lies inside the mapping (overflow-safe). */
int iris_map_range(const iris_map *m, uint64_t off, uint64_t len);

/* Writes n bytes to path via a temporary file and rename; reports a full disk clearly. */
iris_status iris_write_atomic(const char *path, const void *data, size_t n);
/* Creates the folders above `path` that do not exist yet (mkdir -p of its dirname). */
iris_status iris_make_parent_dirs(const char *path);
/* Reads a whole (small) file into a malloc'd buffer with a NUL appended. */
iris_status iris_read_file(const char *path, char **out, size_t *size);

#endif
