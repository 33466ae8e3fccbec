/* resnet.c - ResNet: weights from safetensors, batch norm folded at load, forward pass on ops. */
#include "resnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A convolution with its batch norm folded in: y = conv(x, w) + b. */
typedef struct {
    iris_tensor *w; /* [O, I, kh, kw] F32 */
    iris_tensor *b; /* [O] F32 */
    int stride, pad;
} conv_t;

typedef struct {
    conv_t c1, c2, c3;  /* c3 only in bottleneck blocks */
    conv_t shortcut;    /* projection (downsample), or option-A selection conv, or none */
    int has_shortcut;
} block_t;

struct iris_resnet {
    iris_resnet_info info;
    iris_device dev;
    conv_t stem;
    block_t *blocks;
    int n_blocks;
    iris_tensor *fc_w, *fc_b; /* [classes, D], [classes] */
};

typedef struct {
    iris_safetensors st;
    char prefix[32];
    const char *path;
    iris_device dev;
} loader;

static const iris_st_entry *find(loader *L, const char *name) {
    char full[320];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    return iris_safetensors_find(&L->st, full);
}

/* Reads tensor `name` as F32 host floats with the expected element count; NULL + error otherwise. */
static float *read_f32(loader *L, const char *name, int ndim, const int64_t *shape) {
    char full[320];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    iris_tensor *t;
    if (iris_safetensors_get_shaped(&L->st, full, ndim, shape, &t)) return NULL;
    if (t->dtype != IRIS_F32 && t->dtype != IRIS_F16 && t->dtype != IRIS_BF16) {
        iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' is %s, expected a float type", L->path, full,
                  iris_dtype_name(t->dtype));
        iris_tensor_free(t);
        return NULL;
    }
    int64_t n = iris_nelements(t);
    float *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    if (out) iris_dequantize_row(t->dtype, t->data, out, n);
    else iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", L->path);
    iris_tensor_free(t);
    return out;
}

/* Makes a persistent F32 tensor on the model's device from host floats. */
static iris_status make_tensor(loader *L, iris_tensor **out, int ndim, const int64_t *shape, const float *v,
                               const char *name) {
    iris_status st = iris_tensor_new(out, L->dev, IRIS_F32, ndim, shape);
    if (st) return st;
    snprintf((*out)->name, sizeof (*out)->name, "%s", name);
    return iris_tensor_write(*out, v, iris_nbytes(*out));
}

/* conv weight `conv` + batch norm `bn` (prefix of .weight/.bias/.running_mean/.running_var) -> folded conv. */
static iris_status load_conv_bn(loader *L, conv_t *c, const char *conv, const char *bn, int stride, int pad) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", conv);
    const iris_st_entry *e = find(L, name);
    if (!e) return iris_fail(IRIS_ERR_FORMAT, "%s: missing tensor '%s%s'", L->path, L->prefix, name);
    if (e->ndim != 4)
        return iris_fail(IRIS_ERR_SHAPE, "%s: '%s%s' has %d dims, a conv weight needs 4", L->path, L->prefix, name, e->ndim);
    int64_t O = e->shape[0], per_out = e->shape[1] * e->shape[2] * e->shape[3];
    float *w = read_f32(L, name, 4, e->shape);
    if (!w) return iris_fail(IRIS_ERR_FORMAT, "%s", iris_last_error());
    int64_t vs[1] = {O};
    const char *parts[4] = {"weight", "bias", "running_mean", "running_var"};
    float *bnv[4] = {0};
    iris_status st = IRIS_OK;
    for (int i = 0; i < 4 && !st; i++) {
        snprintf(name, sizeof name, "%s.%s", bn, parts[i]);
        bnv[i] = read_f32(L, name, 1, vs);
        if (!bnv[i]) st = IRIS_ERR_FORMAT;
    }
    float *b = st ? NULL : malloc((size_t)O * sizeof *b);
    if (!st && !b) st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", L->path);
    if (!st) {
        /* eval-mode BN: gamma * (y - mean) / sqrt(var + eps) + beta, eps = 1e-5 (PyTorch default) */
        for (int64_t o = 0; o < O; o++) {
            double s = bnv[0][o] / sqrt((double)bnv[3][o] + 1e-5);
            for (int64_t k = 0; k < per_out; k++) w[o * per_out + k] = (float)(w[o * per_out + k] * s);
            b[o] = (float)(bnv[1][o] - bnv[2][o] * s);
        }
        st = make_tensor(L, &c->w, 4, e->shape, w, conv);
        if (!st) st = make_tensor(L, &c->b, 1, vs, b, bn);
        c->stride = stride;
        c->pad = (int)(e->shape[2] / 2);
        (void)pad;
    }
    free(w);
    free(b);
    for (int i = 0; i < 4; i++) free(bnv[i]);
    return st;
}

/* Option-A shortcut as a 1x1 conv: picks x[:, :, ::2, ::2] and zero-pads channels on both sides.
   The weight is a 0/1 selection matrix, so the result is exact. */
static iris_status make_option_a(loader *L, conv_t *c, int64_t in_c, int64_t out_c) {
    int64_t shape[4] = {out_c, in_c, 1, 1}, bs[1] = {out_c};
    float *w = calloc((size_t)(out_c * in_c), sizeof *w), *b = calloc((size_t)out_c, sizeof *b);
    iris_status st = IRIS_OK;
    if (!w || !b) st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", L->path);
    int64_t before = (out_c - in_c) / 2;
    for (int64_t i = 0; i < in_c && !st; i++) w[(i + before) * in_c + i] = 1.f;
    if (!st) st = make_tensor(L, &c->w, 4, shape, w, "shortcut.selection");
    if (!st) st = make_tensor(L, &c->b, 1, bs, b, "shortcut.zero");
    c->stride = 2;
    c->pad = 0;
    free(w);
    free(b);
    return st;
}

static void free_conv(conv_t *c) {
    iris_tensor_free(c->w);
    iris_tensor_free(c->b);
    c->w = c->b = NULL;
}

void iris_resnet_free(iris_resnet *net) {
    if (!net) return;
    free_conv(&net->stem);
    for (int i = 0; i < net->n_blocks; i++) {
        block_t *b = &net->blocks[i];
        free_conv(&b->c1), free_conv(&b->c2), free_conv(&b->c3), free_conv(&b->shortcut);
    }
    free(net->blocks);
    iris_tensor_free(net->fc_w);
    iris_tensor_free(net->fc_b);
    free(net);
}

const iris_resnet_info *iris_resnet_get_info(const iris_resnet *net) { return &net->info; }

static int count_blocks(loader *L, int stage) {
    int n = 0;
    char name[64];
    for (;; n++) {
        snprintf(name, sizeof name, "layer%d.%d.conv1.weight", stage, n);
        if (!find(L, name)) return n;
    }
}

static iris_status load_all(loader *L, iris_resnet *net) {
    iris_resnet_info *info = &net->info;
    /* checkpoints saved from wrappers carry a prefix on every name */
    static const char *prefixes[] = {"", "module.", "model.", "backbone.", "resnet."};
    int found = 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0] && !found; i++) {
        snprintf(L->prefix, sizeof L->prefix, "%s", prefixes[i]);
        found = find(L, "conv1.weight") && find(L, "layer1.0.conv1.weight");
    }
    if (!found)
        return iris_fail(IRIS_ERR_FORMAT, "%s: not a ResNet checkpoint (no conv1.weight / layer1.0.conv1.weight)", L->path);
    const iris_st_entry *stem = find(L, "conv1.weight");
    if (stem->ndim != 4 || stem->shape[1] != 3)
        return iris_fail(IRIS_ERR_SHAPE, "%s: conv1.weight should be [C, 3, k, k]", L->path);
    info->bottleneck = find(L, "layer1.0.conv3.weight") != NULL;
    for (int s = 0; s < 4; s++) info->blocks[s] = count_blocks(L, s + 1);
    info->n_stages = info->blocks[3] ? 4 : info->blocks[2] ? 3 : 0;
    if (!info->n_stages || !info->blocks[0] || !info->blocks[1])
        return iris_fail(IRIS_ERR_FORMAT, "%s: ResNet stages missing (blocks per stage %d/%d/%d/%d)", L->path,
                         info->blocks[0], info->blocks[1], info->blocks[2], info->blocks[3]);
    info->cifar = stem->shape[2] == 3 && info->n_stages == 3;
    int total = 0;
    for (int s = 0; s < info->n_stages; s++) total += info->blocks[s];
    info->depth = total * (info->bottleneck ? 3 : 2) + 2;
    snprintf(info->arch, sizeof info->arch, "resnet%d%s", info->depth, info->cifar ? "-cifar" : "");

    const iris_st_entry *fc = find(L, "fc.weight");
    const char *fc_name = "fc";
    if (!fc) fc = find(L, "linear.weight"), fc_name = "linear";
    if (!fc) fc = find(L, "head.fc.weight"), fc_name = "head.fc";
    if (!fc || fc->ndim != 2) return iris_fail(IRIS_ERR_FORMAT, "%s: no classifier (fc.weight / linear.weight)", L->path);
    info->n_classes = (int)fc->shape[0];
    info->feature_dim = (int)fc->shape[1];
    if (info->cifar) {
        /* akamaster's CIFAR nets were trained with ImageNet statistics (see their README) */
        info->input_size = info->resize_size = 32;
    } else {
        info->input_size = 224;
        info->resize_size = 256;
    }
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(info->mean, mean, sizeof mean);
    memcpy(info->std, std, sizeof std);

    iris_status st = load_conv_bn(L, &net->stem, "conv1", "bn1", info->cifar ? 1 : 2, 0);
    if (st) return st;
    net->n_blocks = total;
    net->blocks = calloc((size_t)total, sizeof *net->blocks);
    if (!net->blocks) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", L->path);
    int64_t channels = stem->shape[0];
    int bi = 0;
    for (int s = 0; s < info->n_stages; s++) {
        for (int i = 0; i < info->blocks[s]; i++, bi++) {
            block_t *b = &net->blocks[bi];
            int stride = (s > 0 && i == 0) ? 2 : 1;
            char c[64], n[64];
            /* torchvision/timm put the stride on conv2 of bottlenecks (ResNet v1.5), on conv1 of basic blocks */
            int s1 = info->bottleneck ? 1 : stride, s2 = info->bottleneck ? stride : 1;
            snprintf(c, sizeof c, "layer%d.%d.conv1", s + 1, i), snprintf(n, sizeof n, "layer%d.%d.bn1", s + 1, i);
            if ((st = load_conv_bn(L, &b->c1, c, n, s1, 0))) return st;
            snprintf(c, sizeof c, "layer%d.%d.conv2", s + 1, i), snprintf(n, sizeof n, "layer%d.%d.bn2", s + 1, i);
            if ((st = load_conv_bn(L, &b->c2, c, n, s2, 0))) return st;
            if (info->bottleneck) {
                snprintf(c, sizeof c, "layer%d.%d.conv3", s + 1, i), snprintf(n, sizeof n, "layer%d.%d.bn3", s + 1, i);
                if ((st = load_conv_bn(L, &b->c3, c, n, 1, 0))) return st;
            }
            int64_t out_c = (info->bottleneck ? b->c3.w : b->c2.w)->ne[0];
            if (b->c1.w->ne[1] != channels)
                return iris_fail(IRIS_ERR_SHAPE, "%s: layer%d.%d.conv1 takes %lld channels, previous layer gives %lld",
                                 L->path, s + 1, i, (long long)b->c1.w->ne[1], (long long)channels);
            snprintf(c, sizeof c, "layer%d.%d.downsample.0.weight", s + 1, i);
            if (find(L, c)) {
                snprintf(c, sizeof c, "layer%d.%d.downsample.0", s + 1, i);
                snprintf(n, sizeof n, "layer%d.%d.downsample.1", s + 1, i);
                if ((st = load_conv_bn(L, &b->shortcut, c, n, stride, 0))) return st;
                b->has_shortcut = 1;
            } else if (out_c != channels || stride != 1) {
                if (!info->cifar || stride != 2 || out_c < channels)
                    return iris_fail(IRIS_ERR_FORMAT, "%s: layer%d.%d changes shape but has no downsample weights",
                                     L->path, s + 1, i);
                if ((st = make_option_a(L, &b->shortcut, channels, out_c))) return st;
                b->has_shortcut = 1;
            }
            channels = out_c;
        }
    }
    if (channels != info->feature_dim)
        return iris_fail(IRIS_ERR_SHAPE, "%s: classifier takes %d features, last stage gives %lld", L->path,
                         info->feature_dim, (long long)channels);
    char name[64];
    snprintf(name, sizeof name, "%s.weight", fc_name);
    int64_t ws[2] = {info->n_classes, info->feature_dim}, bs[1] = {info->n_classes};
    float *w = read_f32(L, name, 2, ws);
    snprintf(name, sizeof name, "%s.bias", fc_name);
    float *bias = w ? read_f32(L, name, 1, bs) : NULL;
    if (!w || !bias) st = IRIS_ERR_FORMAT;
    if (!st) st = make_tensor(L, &net->fc_w, 2, ws, w, "fc.weight");
    if (!st) st = make_tensor(L, &net->fc_b, 1, bs, bias, "fc.bias");
    free(w);
    free(bias);
    return st;
}

iris_status iris_resnet_load(iris_resnet **out, const char *path, iris_device dev) {
    *out = NULL;
    loader L = {.path = path, .dev = dev};
    iris_status st = iris_safetensors_open(&L.st, path);
    if (st) return st;
    iris_resnet *net = calloc(1, sizeof *net);
    if (!net) {
        iris_safetensors_close(&L.st);
        return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    }
    net->dev = dev;
    st = load_all(&L, net);
    iris_safetensors_close(&L.st);
    if (st) {
        iris_resnet_free(net);
        return st;
    }
    *out = net;
    return IRIS_OK;
}

/* residual: added before the ReLU (a block's last conv takes the shortcut), or NULL */
static iris_tensor *conv(iris_ctx *ctx, const iris_tensor *x, const conv_t *c, int relu, const iris_tensor *residual) {
    iris_conv2d_params p = iris_conv(c->stride, c->pad);
    p.act = relu ? IRIS_ACT_RELU : IRIS_ACT_NONE;
    p.residual = residual;
    return iris_conv2d(ctx, x, c->w, c->b, p);
}

/* Bytes of the output of conv c over an [N, C, H, W] input: the size a block reserves for its result. */
static size_t conv_out_bytes(const conv_t *c, int64_t N, int64_t *H, int64_t *W) {
    *H = (*H + 2 * c->pad - c->w->ne[2]) / c->stride + 1;
    *W = (*W + 2 * c->pad - c->w->ne[3]) / c->stride + 1;
    return (size_t)(N * c->w->ne[0] * *H * *W) * sizeof(float);
}

iris_status iris_resnet_forward(iris_ctx *ctx, const iris_resnet *net, const iris_tensor *x, iris_tensor **logits,
                                iris_tensor **features) {
    const iris_resnet_info *info = &net->info;
    if (x->ndim != 4 || x->ne[1] != 3)
        return iris_fail(IRIS_ERR_SHAPE, "%s: input must be [N, 3, H, W]", info->arch);

    iris_tensor *h = conv(ctx, x, &net->stem, 1, NULL);
    if (!info->cifar) h = iris_pool2d(ctx, h, iris_maxpool(3, 2, 1));

    for (int i = 0; i < net->n_blocks; i++) {
        const block_t *b = &net->blocks[i];
        iris_mark m = iris_ctx_mark(ctx);
        if (!h) break;
        /* the block's output goes below its temporaries, so keeping it moves nothing */
        int64_t H = h->ne[2], W = h->ne[3];
        size_t out_bytes = conv_out_bytes(&b->c1, h->ne[0], &H, &W);
        out_bytes = conv_out_bytes(&b->c2, h->ne[0], &H, &W);
        if (info->bottleneck) out_bytes = conv_out_bytes(&b->c3, h->ne[0], &H, &W);
        void *out = iris_ctx_reserve(ctx, out_bytes);
        iris_tensor *shortcut = b->has_shortcut ? conv(ctx, h, &b->shortcut, 0, NULL) : (iris_tensor *)h;
        iris_tensor *y = conv(ctx, h, &b->c1, 1, NULL);
        /* the last conv adds the shortcut and applies the block's ReLU */
        if (info->bottleneck) y = conv(ctx, y, &b->c2, 1, NULL);
        iris_ctx_place_next(ctx, out, out_bytes);
        y = conv(ctx, y, info->bottleneck ? &b->c3 : &b->c2, 1, shortcut);
        /* the block's temporaries die here; only its output stays in the arena */
        h = iris_ctx_keep(ctx, m, y);
    }

    iris_tensor *feat = iris_global_avgpool(ctx, h); /* [N, D] */
    if (features) *features = feat;
    if (logits) *logits = iris_linear(ctx, feat, net->fc_w, net->fc_b);
    return iris_ctx_status(ctx);
}
