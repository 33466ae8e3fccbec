/* fuzz_darknet_cfg.c - libFuzzer target: darknet .cfg parsing and every getter on every option. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/darknet.h"
#include "fuzz.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    iris_darknet_cfg cfg;
    if (iris_darknet_cfg_parse(&cfg, (const char *)data, size, "fuzz.cfg")) return 0;
    for (int i = 0; i < cfg.n_sections; i++) {
        iris_darknet_section *s = &cfg.sections[i];
        sink += (uint64_t)iris_darknet_count(&cfg, s->type);
        if (iris_darknet_find(&cfg, s->type, 0) > i) __builtin_trap();
        for (int k = 0; k < s->n_opts && k < 64; k++) {
            const char *key = s->opts[k].key;
            int v, n, ints[16];
            float f, fl[16];
            if (!iris_darknet_int(s, key, 0, &v)) sink += (uint64_t)v;
            if (!iris_darknet_float(s, key, 0, &f)) sink += (uint64_t)(f == f);
            int len = iris_darknet_list_len(s, key);
            if (len < 1) __builtin_trap();
            if (!iris_darknet_ints(s, key, ints, 16, &n) && (n != len || n > 16)) __builtin_trap();
            if (!iris_darknet_floats(s, key, fl, 16, &n) && (n != len || n > 16)) __builtin_trap();
            sink += strlen(iris_darknet_str(s, key, ""));
        }
        /* every option was read, so only a repeated key (first one wins) can be left unused */
        if (s->n_opts <= 64 && iris_darknet_check_unused(s) && !strstr(iris_last_error(), "is repeated"))
            __builtin_trap();
    }
    iris_darknet_cfg_close(&cfg);
    return 0;
}
