/* yolo_net.c - a darknet YOLO built from its .cfg: the [net] header, then one layer per
   section, each kind parsed and run by its own file (yolo_layers.h), the weights taken from the
   .weights file in section order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo_layers.h"

struct iris_yolo {
    iris_yolo_info info;
    int n;
    yolo_layer *layers;
};

static const yolo_kind *const kinds[] = {&yolo_conv_kind,     &yolo_maxpool_kind,  &yolo_avgpool_kind,
                                         &yolo_route_kind,    &yolo_shortcut_kind, &yolo_upsample_kind,
                                         &yolo_head_kind,     &yolo_dropout_kind};

/* darknet's short names for the same sections */
static const char *canonical(const char *type) {
    if (!strcmp(type, "conv")) return "convolutional";
    if (!strcmp(type, "max")) return "maxpool";
    if (!strcmp(type, "avg")) return "avgpool";
    return type;
}

iris_status yolo_error(const yolo_build *b, iris_status st, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return iris_fail(st ? st : IRIS_ERR_FORMAT, "%s:%d: [%s] %s", b->cfg_path, line, b->s->type, msg);
}

int yolo_line(const yolo_build *b, const char *key) {
    for (int i = 0; i < b->s->n_opts; i++)
        if (!strcmp(b->s->opts[i].key, key)) return b->s->opts[i].line;
    return b->s->line;
}

iris_status yolo_activation(yolo_build *b, iris_act *act, float *alpha) {
    static const struct {
        const char *name;
        iris_act act;
        float alpha;
    } acts[] = {{"linear", IRIS_ACT_NONE, 0},       {"leaky", IRIS_ACT_LEAKY, 0.1f}, {"relu", IRIS_ACT_RELU, 0},
                {"logistic", IRIS_ACT_SIGMOID, 0},  {"tanh", IRIS_ACT_TANH, 0},      {"mish", IRIS_ACT_MISH, 0},
                {"swish", IRIS_ACT_SILU, 0}};
    const char *a = iris_darknet_str(b->s, "activation", "logistic"); /* darknet's default */
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        if (!strcmp(a, acts[i].name)) {
            *act = acts[i].act, *alpha = acts[i].alpha;
            return IRIS_OK;
        }
    return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "activation"), "activation=%s is not supported", a);
}

iris_status yolo_layer_ref(yolo_build *b, const char *key, int v, int *out) {
    int i = v < 0 ? b->index + v : v;
    if (i < 0 || i >= b->index)
        return yolo_error(b, 0, yolo_line(b, key), "%s=%d: layer %d is not an earlier layer (this is layer %d)", key, v,
                          i, b->index);
    *out = i;
    return IRIS_OK;
}

void yolo_ignore(iris_darknet_section *s, const char *const *keys) {
    for (; *keys; keys++) (void)iris_darknet_value(s, *keys);
}

/* [net] options that only training reads */
static const char *const net_train_only[] = {
    "batch", "subdivisions", "momentum", "decay", "angle", "saturation", "exposure", "hue", "learning_rate",
    "burn_in", "max_batches", "policy", "steps", "scales", "step", "gamma", "power", "mosaic", "mosaic_bound",
    "letter_box", "flip", "blur", "gaussian_noise", "mixup", "cutmix", "track", "augment_speed",
    "sequential_subdivisions", "init_sequential_subdivisions", "try_fix_nan", "loss_scale", "dynamic_minibatch",
    "optimized_memory", "workspace_size_limit_MB", "adam", "B1", "B2", "eps", "max_crop", "min_crop", "aspect",
    "label_smooth_eps", "contrastive", "contrastive_jit_flip", "contrastive_color", "unsupervised", "ema_alpha",
    "time_steps", "max_chart_loss", "center", "clip", "jitter", "resize_step", "attention", "adversarial_lr",
    "show_receptive_field", "num_boxes", "use_cuda_graph", "random", "inputs", "max_batches", "burn_in",
    "min_crop", "rescale", "train", NULL};

static iris_status parse_net(iris_darknet_section *s, const char *cfg_path, const iris_yolo_params *p,
                             iris_yolo_info *info) {
    yolo_build b = {.cfg_path = cfg_path, .s = s};
    iris_status st;
    if ((st = iris_darknet_int(s, "width", 416, &info->width)) || (st = iris_darknet_int(s, "height", 416, &info->height)) ||
        (st = iris_darknet_int(s, "channels", 3, &info->channels)))
        return st;
    yolo_ignore(s, net_train_only);
    if ((st = iris_darknet_check_unused(s))) return st;
    if (p && p->width > 0) info->width = p->width;
    if (p && p->height > 0) info->height = p->height;
    if (info->width < 1 || info->height < 1 || info->width > 8192 || info->height > 8192)
        return yolo_error(&b, 0, s->line, "input size %dx%d is out of range", info->width, info->height);
    if (info->channels != 3)
        return yolo_error(&b, IRIS_ERR_UNSUPPORTED, yolo_line(&b, "channels"), "channels=%d: only RGB (3) is supported",
                          info->channels);
    return IRIS_OK;
}

void iris_yolo_free(iris_yolo *net) {
    if (!net) return;
    for (int i = 0; i < net->n; i++) {
        iris_tensor_free(net->layers[i].weight);
        iris_tensor_free(net->layers[i].bias);
    }
    free(net->layers);
    free(net);
}

static iris_status build(iris_yolo *net, iris_darknet_cfg *cfg, const char *cfg_path, iris_darknet_weights *w,
                         const iris_yolo_params *p, iris_device dev) {
    if (cfg->n_sections < 1 || (strcmp(cfg->sections[0].type, "net") && strcmp(cfg->sections[0].type, "network")))
        return iris_fail(IRIS_ERR_FORMAT, "%s:%d: the first section must be [net]", cfg_path,
                         cfg->n_sections ? cfg->sections[0].line : 1);
    if (w->major > 1000 || w->minor > 1000)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: weights version %d.%d.%d (transposed layout) is not supported",
                         w->map.path[0] ? w->map.path : "weights", w->major, w->minor, w->revision);
    iris_status st = parse_net(&cfg->sections[0], cfg_path, p, &net->info);
    if (st) return st;
    net->n = cfg->n_sections - 1;
    net->info.n_layers = net->n;
    net->layers = calloc((size_t)(net->n ? net->n : 1), sizeof *net->layers);
    if (!net->layers) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", cfg_path);
    yolo_build b = {.cfg_path = cfg_path, .layers = net->layers, .weights = w, .dev = dev, .info = &net->info,
                    .in_c = net->info.channels, .in_h = net->info.height, .in_w = net->info.width};
    for (int i = 0; i < net->n; i++) {
        b.s = &cfg->sections[i + 1];
        b.index = i;
        yolo_layer *l = &net->layers[i];
        l->line = b.s->line;
        const char *type = canonical(b.s->type);
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds && !l->kind; k++)
            if (!strcmp(type, kinds[k]->name)) l->kind = kinds[k];
        if (!l->kind) {
            if (!strcmp(type, "net") || !strcmp(type, "network"))
                return yolo_error(&b, 0, b.s->line, "a second [net] section");
            return yolo_error(&b, IRIS_ERR_UNSUPPORTED, b.s->line, "unknown or unsupported section");
        }
        if ((st = l->kind->parse(&b, l))) return st;
        if ((st = iris_darknet_check_unused(b.s))) return st;
        b.in_c = l->c, b.in_h = l->h, b.in_w = l->w;
    }
    if (!net->info.n_heads) return iris_fail(IRIS_ERR_FORMAT, "%s: the cfg has no [yolo] layer", cfg_path);
    uint64_t left = iris_darknet_weights_remaining(w);
    if (left)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %llu floats are left over after the last layer: the weights do not "
                         "belong to %s", w->map.path[0] ? w->map.path : "weights", (unsigned long long)left, cfg_path);
    return IRIS_OK;
}

iris_yolo_params iris_yolo_default_params(void) { return (iris_yolo_params){0, 0}; }

/* cfg_text NULL: read the file cfg_path */
static iris_status load(iris_yolo **out, const char *cfg_path, const char *cfg_text, size_t cfg_len,
                        iris_darknet_weights *w, const iris_yolo_params *p, iris_device dev) {
    iris_darknet_cfg cfg;
    iris_status st = cfg_text ? iris_darknet_cfg_parse(&cfg, cfg_text, cfg_len, cfg_path)
                              : iris_darknet_cfg_open(&cfg, cfg_path);
    if (st) return st;
    iris_yolo *net = calloc(1, sizeof *net);
    if (!net) st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", cfg_path);
    else st = build(net, &cfg, cfg_path, w, p, dev);
    iris_darknet_cfg_close(&cfg);
    if (st) {
        iris_yolo_free(net);
        return st;
    }
    *out = net;
    return IRIS_OK;
}

iris_status iris_yolo_load(iris_yolo **out, const char *cfg_path, const char *weights_path, const iris_yolo_params *p,
                           iris_device dev) {
    *out = NULL;
    iris_darknet_weights w;
    iris_status st = iris_darknet_weights_open(&w, weights_path);
    if (st) return st;
    st = load(out, cfg_path, NULL, 0, &w, p, dev);
    iris_darknet_weights_close(&w);
    return st;
}

iris_status iris_yolo_load_mem(iris_yolo **out, const char *cfg_path, const uint8_t *weights, size_t n,
                               const char *weights_name, const iris_yolo_params *p, iris_device dev) {
    return iris_yolo_load_text(out, NULL, 0, cfg_path, weights, n, weights_name, p, dev);
}

iris_status iris_yolo_load_text(iris_yolo **out, const char *cfg_text, size_t cfg_len, const char *cfg_name,
                                const uint8_t *weights, size_t n, const char *weights_name, const iris_yolo_params *p,
                                iris_device dev) {
    *out = NULL;
    iris_darknet_weights w;
    iris_status st = iris_darknet_weights_parse(&w, weights, n, weights_name);
    if (st) return st;
    st = load(out, cfg_name, cfg_text, cfg_len, &w, p, dev);
    iris_darknet_weights_close(&w);
    return st;
}

const iris_yolo_info *iris_yolo_get_info(const iris_yolo *net) { return &net->info; }

iris_status iris_yolo_forward(iris_ctx *ctx, const iris_yolo *net, const iris_tensor *x,
                              iris_tensor *heads[IRIS_YOLO_MAX_HEADS]) {
    const iris_yolo_info *info = &net->info;
    for (int h = 0; h < IRIS_YOLO_MAX_HEADS; h++) heads[h] = NULL;
    if (!x || x->ndim != 4 || x->ne[1] != info->channels || x->ne[2] != info->height || x->ne[3] != info->width) {
        char buf[64];
        return iris_fail(IRIS_ERR_SHAPE, "yolo: input %s, expected [N, %d, %d, %d]",
                         x ? iris_shape_str(x, buf, sizeof buf) : "(null)", info->channels, info->height, info->width);
    }
    iris_tensor **outs = calloc((size_t)net->n, sizeof *outs);
    if (!outs) return iris_fail(IRIS_ERR_NOMEM, "yolo: out of memory");
    /* every layer's output stays in the arena: routes and shortcuts reach far back */
    const iris_tensor *in = x;
    for (int i = 0; i < net->n && in; i++) {
        const yolo_layer *l = &net->layers[i];
        outs[i] = l->kind->forward(ctx, l, in, outs);
        in = outs[i];
    }
    for (int h = 0; h < info->n_heads; h++) heads[h] = outs[info->heads[h].layer];
    free(outs);
    iris_status st = iris_ctx_status(ctx);
    if (!st && info->n_heads && !heads[info->n_heads - 1]) st = iris_fail(IRIS_ERR_ARG, "yolo: forward failed");
    return st;
}
