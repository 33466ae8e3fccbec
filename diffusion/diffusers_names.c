/* diffusers_names.c - a diffusers folder's tensor names for the original checkpoint's ones, so the
   UNet and VAE loaders walk one naming only. The numbering rules are diffusers' conversion
   scripts read backwards: input_blocks.k holds level (k-1)/(L+1), slot (k-1)%(L+1), the last
   slot of a level being its downsampler; output_blocks.k holds level k/(L+1), slot k%(L+1). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

static const char *const res_parts[][2] = {{"in_layers.0.", "norm1."},      {"in_layers.2.", "conv1."},
                                           {"emb_layers.1.", "time_emb_proj."}, {"out_layers.0.", "norm2."},
                                           {"out_layers.3.", "conv2."},     {"skip_connection.", "conv_shortcut."}};

/* ResBlock part names: rest is "in_layers.0.weight" and the like. */
static const char *res_part(const char *rest, const char **tail) {
    for (size_t i = 0; i < sizeof res_parts / sizeof res_parts[0]; i++) {
        size_t n = strlen(res_parts[i][0]);
        if (!strncmp(rest, res_parts[i][0], n)) {
            *tail = rest + n;
            return res_parts[i][1];
        }
    }
    return NULL;
}

static const char *put(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *put(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return k < 0 || (size_t)k >= n ? NULL : buf;
}

/* "<block>.<part>.<rest>" inside a level at slot j: part 0 ResBlock, else transformer or sampler. */
static const char *level_part(char *buf, size_t n, const char *blocks, int level, int j, int part, const char *rest,
                              int is_sampler_slot, int is_last, const char *sampler) {
    const char *tail;
    if (is_sampler_slot) /* input_blocks.k.0.op.X */
        return strncmp(rest, "op.", 3) ? NULL : put(buf, n, "%s.%d.%s.0.conv.%s", blocks, level, sampler, rest + 3);
    if (part > 0 && !strncmp(rest, "conv.", 5)) /* output_blocks.k.{1,2}.conv.X: only a level's last block */
        return is_last ? put(buf, n, "%s.%d.%s.0.%s", blocks, level, sampler, rest) : NULL;
    if (part == 0) {
        const char *p = res_part(rest, &tail);
        return p ? put(buf, n, "%s.%d.resnets.%d.%s%s", blocks, level, j, p, tail) : NULL;
    }
    return put(buf, n, "%s.%d.attentions.%d.%s", blocks, level, j, rest);
}

/* sscanf's %n is only stored when the whole pattern matched; a name that stops early must not
   leave `off` unset. Numbers must be non-negative (indices). */
#define MATCHED(count, want) ((count) == (want) && off > 0)

const char *iris_sd_diffusers_unet_name(void *layers_per_block, const char *name, char *buf, size_t n) {
    int L = *(int *)layers_per_block, k = -1, part = -1, off = -1;
    if (L < 1 || L > 64) return NULL;
    const char *tail;
    static const char *const simple[][2] = {{"time_embed.0.", "time_embedding.linear_1."},
                                            {"time_embed.2.", "time_embedding.linear_2."},
                                            {"input_blocks.0.0.", "conv_in."}, {"out.0.", "conv_norm_out."},
                                            {"out.2.", "conv_out."}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
        size_t m = strlen(simple[i][0]);
        if (!strncmp(name, simple[i][0], m)) return put(buf, n, "%s%s", simple[i][1], name + m);
    }
    if (MATCHED(sscanf(name, "middle_block.%d.%n", &part, &off), 1) && part >= 0 && part <= 2) {
        if (part == 1) return put(buf, n, "mid_block.attentions.0.%s", name + off);
        const char *p = res_part(name + off, &tail);
        return p ? put(buf, n, "mid_block.resnets.%d.%s%s", part / 2, p, tail) : NULL;
    }
    off = -1;
    if (MATCHED(sscanf(name, "input_blocks.%d.%d.%n", &k, &part, &off), 2) && k >= 1 && part >= 0) {
        int level = (k - 1) / (L + 1), j = (k - 1) % (L + 1);
        return level_part(buf, n, "down_blocks", level, j, part, name + off, j == L, 0, "downsamplers");
    }
    off = -1;
    if (MATCHED(sscanf(name, "output_blocks.%d.%d.%n", &k, &part, &off), 2) && k >= 0 && part >= 0) {
        int level = k / (L + 1), j = k % (L + 1);
        return level_part(buf, n, "up_blocks", level, j, part, name + off, 0, j == L, "upsamplers");
    }
    return NULL;
}

const char *iris_sd_diffusers_vae_name(void *n_levels, const char *name, char *buf, size_t n) {
    int levels = *(int *)n_levels, i = -1, j = -1, off = -1;
    char coder[16];
    if (levels < 1 || levels > 64) return NULL;
    if (!MATCHED(sscanf(name, "%15[a-z]%n", coder, &off), 1) || (strcmp(coder, "encoder") && strcmp(coder, "decoder")))
        return put(buf, n, "%s", name); /* quant_conv, post_quant_conv */
    const char *r = name + off;
    off = -1;
    int m = sscanf(r, ".down.%d.block.%d.%n", &i, &j, &off);
    if (!MATCHED(m, 2)) off = -1, m = sscanf(r, ".up.%d.block.%d.%n", &i, &j, &off);
    if (MATCHED(m, 2) && i >= 0 && j >= 0 && i < levels) {
        int up = r[1] == 'u';
        const char *rest = r + off;
        if (!strncmp(rest, "nin_shortcut.", 13)) rest = rest + 13, r = "conv_shortcut.";
        else r = "";
        return put(buf, n, "%s.%s_blocks.%d.resnets.%d.%s%s", coder, up ? "up" : "down", up ? levels - 1 - i : i, j, r, rest);
    }
    off = -1;
    if (MATCHED(sscanf(r, ".down.%d.downsample.%n", &i, &off), 1) && i >= 0)
        return put(buf, n, "%s.down_blocks.%d.downsamplers.0.%s", coder, i, r + off);
    off = -1;
    if (MATCHED(sscanf(r, ".up.%d.upsample.%n", &i, &off), 1) && i >= 0 && i < levels)
        return put(buf, n, "%s.up_blocks.%d.upsamplers.0.%s", coder, levels - 1 - i, r + off);
    off = -1;
    if (MATCHED(sscanf(r, ".mid.block_%d.%n", &i, &off), 1) && i >= 1 && i <= 2) {
        const char *rest = r + off;
        if (!strncmp(rest, "nin_shortcut.", 13)) return put(buf, n, "%s.mid_block.resnets.%d.conv_shortcut.%s", coder, i - 1, rest + 13);
        return put(buf, n, "%s.mid_block.resnets.%d.%s", coder, i - 1, rest);
    }
    static const char *const attn[][2] = {{"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."},
                                          {"v.", "to_v."}, {"proj_out.", "to_out.0."}};
    if (!strncmp(r, ".mid.attn_1.", 12)) {
        r += 12;
        for (size_t a = 0; a < sizeof attn / sizeof attn[0]; a++) {
            size_t m = strlen(attn[a][0]);
            if (!strncmp(r, attn[a][0], m)) return put(buf, n, "%s.mid_block.attentions.0.%s%s", coder, attn[a][1], r + m);
        }
        return NULL;
    }
    if (!strncmp(r, ".norm_out.", 10)) return put(buf, n, "%s.conv_norm_out.%s", coder, r + 10);
    return put(buf, n, "%s%s", coder, r); /* conv_in, conv_out */
}
