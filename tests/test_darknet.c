/* test_darknet.c - darknet .cfg parser and .weights reader.
   References: the real cfg files in shared/data/yolo (section counts and values
   counted once with an independent Python script over the cfg text and written
   here), the yolo-fastest weights (header and floats read once with Python's
   struct module), and hand-written hostile inputs. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static iris_darknet_section *nth(iris_darknet_cfg *c, const char *type, int k) {
    int i = iris_darknet_find(c, type, k);
    return i < 0 ? NULL : &c->sections[i];
}

static int total_opts(const iris_darknet_cfg *c) {
    int n = 0;
    for (int i = 0; i < c->n_sections; i++) n += c->sections[i].n_opts;
    return n;
}

static int sum_filters(iris_darknet_cfg *c) {
    int sum = 0;
    for (int k = 0;; k++) {
        iris_darknet_section *s = nth(c, "convolutional", k);
        if (!s) break;
        int f = -1;
        if (iris_darknet_int(s, "filters", 1, &f)) return -1;
        sum += f;
    }
    return sum;
}

/* ---------------------------------------------------------------- real cfgs */

TEST(darknet_cfg_yolo_fastest) {
    const char *path = test_data("yolo/yolo-fastest-1.1.cfg");
    if (!path) return;
    iris_darknet_cfg c;
    CHECK_OK(iris_darknet_cfg_open(&c, path));
    if (!c.n_sections) return;
    CHECK_INT(c.n_sections, 132);
    CHECK_INT(total_opts(&c), 643);
    CHECK_INT(iris_darknet_count(&c, "net"), 1);
    CHECK_INT(iris_darknet_count(&c, "convolutional"), 84);
    CHECK_INT(iris_darknet_count(&c, "dropout"), 18);
    CHECK_INT(iris_darknet_count(&c, "shortcut"), 18);
    CHECK_INT(iris_darknet_count(&c, "maxpool"), 3);
    CHECK_INT(iris_darknet_count(&c, "route"), 5);
    CHECK_INT(iris_darknet_count(&c, "yolo"), 2);
    CHECK_INT(iris_darknet_count(&c, "upsample"), 1);
    CHECK_INT(iris_darknet_count(&c, "connected"), 0);
    CHECK(!strcmp(c.sections[0].type, "net"));
    CHECK(!strcmp(c.sections[131].type, "yolo"));
    CHECK_INT(c.sections[131].line, 930);

    iris_darknet_section *net = &c.sections[0];
    int v = 0;
    float f = 0;
    CHECK_OK(iris_darknet_int(net, "batch", 1, &v));
    CHECK_INT(v, 32);
    CHECK_OK(iris_darknet_int(net, "width", 0, &v));
    CHECK_INT(v, 320);
    CHECK_OK(iris_darknet_int(net, "height", 0, &v));
    CHECK_INT(v, 320);
    CHECK_OK(iris_darknet_int(net, "channels", 0, &v));
    CHECK_INT(v, 3);
    CHECK_OK(iris_darknet_float(net, "momentum", 0, &f));
    CHECK(f == 0.949f);
    CHECK_OK(iris_darknet_float(net, "hue", 0, &f));
    CHECK(f == 0.1f);
    CHECK_OK(iris_darknet_float(net, "learning_rate", 0, &f));
    CHECK(f == 0.001f);
    int steps[4], n = 0;
    CHECK_OK(iris_darknet_ints(net, "steps", steps, 4, &n));
    CHECK(n == 2 && steps[0] == 400000 && steps[1] == 450000);
    float scales[2];
    CHECK_OK(iris_darknet_floats(net, "scales", scales, 2, &n));
    CHECK(n == 2 && scales[0] == 0.1f && scales[1] == 0.1f);
    CHECK(!strcmp(iris_darknet_str(net, "policy", "?"), "steps"));
    CHECK_OK(iris_darknet_int(net, "no_such_key", 77, &v));
    CHECK_INT(v, 77);

    iris_darknet_section *c0 = nth(&c, "convolutional", 0);
    CHECK(c0 != NULL);
    if (c0) {
        CHECK_INT(c0->line, 22);
        CHECK_INT(c0->n_opts, 6);
        CHECK_INT(c0->opts[3].line, 26);
        CHECK(!strcmp(c0->opts[3].key, "stride") && !strcmp(c0->opts[3].value, "2"));
        int filters, size, pad, stride, bn, dil;
        CHECK_OK(iris_darknet_int(c0, "filters", 1, &filters));
        CHECK_OK(iris_darknet_int(c0, "size", 1, &size));
        CHECK_INT(iris_darknet_check_unused(c0), IRIS_ERR_UNSUPPORTED); /* pad, stride, ... not read yet */
        CHECK(strstr(iris_last_error(), ":25: [convolutional] option 'pad = 1'"));
        CHECK_OK(iris_darknet_int(c0, "pad", 0, &pad));
        CHECK_OK(iris_darknet_int(c0, "stride", 1, &stride));
        CHECK_OK(iris_darknet_int(c0, "batch_normalize", 0, &bn));
        CHECK_OK(iris_darknet_int(c0, "dilation", 1, &dil));
        CHECK(filters == 8 && size == 3 && pad == 1 && stride == 2 && bn == 1 && dil == 1);
        CHECK(!strcmp(iris_darknet_str(c0, "activation", "linear"), "leaky"));
        CHECK_OK(iris_darknet_check_unused(c0));
    }
    iris_darknet_section *c5 = nth(&c, "convolutional", 5);
    if (c5) {
        int groups = 0;
        CHECK_INT(c5->line, 65);
        CHECK_OK(iris_darknet_int(c5, "groups", 1, &groups));
        CHECK_INT(groups, 8);
    }
    iris_darknet_section *clast = nth(&c, "convolutional", 83);
    if (clast) {
        int filters = 0, bn = -1;
        CHECK_INT(clast->line, 922);
        CHECK_OK(iris_darknet_int(clast, "filters", 1, &filters));
        CHECK_OK(iris_darknet_int(clast, "batch_normalize", 0, &bn));
        CHECK(filters == 255 && bn == 0);
        CHECK(!strcmp(iris_darknet_str(clast, "activation", "?"), "linear"));
    }
    CHECK(nth(&c, "convolutional", 84) == NULL);
    int with_groups = 0;
    for (int k = 0; k < 84; k++) with_groups += iris_darknet_value(nth(&c, "convolutional", k), "groups") != NULL;
    CHECK_INT(with_groups, 28);
    CHECK_INT(sum_filters(&c), 7142);

    iris_darknet_section *r2 = nth(&c, "route", 2);
    if (r2) {
        int layers[8];
        CHECK_INT(r2->line, 806);
        CHECK_INT(iris_darknet_list_len(r2, "layers"), 4);
        CHECK_OK(iris_darknet_ints(r2, "layers", layers, 8, &n));
        CHECK(n == 4 && layers[0] == -1 && layers[1] == -3 && layers[2] == -5 && layers[3] == -6);
        CHECK_INT(iris_darknet_ints(r2, "layers", layers, 3, &n), IRIS_ERR_FORMAT);
        CHECK(strstr(iris_last_error(), "'layers' has 4 items, at most 3"));
    }
    iris_darknet_section *y1 = nth(&c, "yolo", 1);
    if (y1) {
        int mask[3], anchors[12];
        static const int want[12] = {12, 18, 37, 49, 52, 132, 115, 73, 119, 199, 242, 238};
        CHECK_OK(iris_darknet_ints(y1, "mask", mask, 3, &n));
        CHECK(n == 3 && mask[0] == 0 && mask[1] == 1 && mask[2] == 2);
        CHECK_INT(iris_darknet_check_unused(y1), IRIS_ERR_UNSUPPORTED);
        CHECK(strstr(iris_last_error(), ":932: [yolo] option 'anchors"));
        CHECK_OK(iris_darknet_ints(y1, "anchors", anchors, 12, &n));
        CHECK_INT(n, 12);
        CHECK(!memcmp(anchors, want, sizeof want));
        float sxy = 0;
        CHECK_OK(iris_darknet_float(y1, "scale_x_y", 1, &sxy));
        CHECK(sxy == 1.0f);
        CHECK(!strcmp(iris_darknet_str(y1, "iou_loss", "mse"), "ciou"));
        CHECK_OK(iris_darknet_int(y1, "classes", 0, &v));
        CHECK_INT(v, 80);
        /* a string is not an integer, a float is not an integer */
        CHECK_INT(iris_darknet_int(y1, "iou_loss", 0, &v), IRIS_ERR_FORMAT);
        CHECK(strstr(iris_last_error(), ":943: [yolo] 'iou_loss' is not an integer: 'ciou'"));
        CHECK_INT(iris_darknet_int(y1, "jitter", 0, &v), IRIS_ERR_FORMAT);
        CHECK_OK(iris_darknet_float(y1, "jitter", 0, &f));
        CHECK(f == 0.15f);
    }
    iris_darknet_cfg_close(&c);
    CHECK_INT(c.n_sections, 0);
}

TEST(darknet_cfg_other_files) {
    static const struct {
        const char *file;
        int sections, opts, conv, shortcut, route, maxpool, yolo, upsample, filters, net_width, conv0_filters;
    } cases[] = {
        {"yolo/yolo-fastest-1.1-xl.cfg", 132, 643, 84, 18, 5, 3, 2, 1, 12910, 320, 16},
        {"yolo/cfg/yolov3-tiny.cfg", 25, 124, 13, 0, 2, 6, 2, 1, 3694, 416, 16},
        {"yolo/cfg/yolov4-tiny.cfg", 39, 195, 21, 0, 11, 3, 2, 1, 3614, 416, 32},
        {"yolo/cfg/yolov3.cfg", 108, 540, 75, 23, 4, 0, 3, 2, 27069, 416, 32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = test_data(cases[i].file);
        if (!path) return;
        iris_darknet_cfg c;
        CHECK_OK(iris_darknet_cfg_open(&c, path));
        CHECK_INT(c.n_sections, cases[i].sections);
        CHECK_INT(total_opts(&c), cases[i].opts);
        CHECK_INT(iris_darknet_count(&c, "convolutional"), cases[i].conv);
        CHECK_INT(iris_darknet_count(&c, "shortcut"), cases[i].shortcut);
        CHECK_INT(iris_darknet_count(&c, "route"), cases[i].route);
        CHECK_INT(iris_darknet_count(&c, "maxpool"), cases[i].maxpool);
        CHECK_INT(iris_darknet_count(&c, "yolo"), cases[i].yolo);
        CHECK_INT(iris_darknet_count(&c, "upsample"), cases[i].upsample);
        CHECK_INT(sum_filters(&c), cases[i].filters);
        int v = 0;
        if (c.n_sections) {
            CHECK_OK(iris_darknet_int(&c.sections[0], "width", 0, &v));
            CHECK_INT(v, cases[i].net_width);
            CHECK_OK(iris_darknet_int(nth(&c, "convolutional", 0), "filters", 0, &v));
            CHECK_INT(v, cases[i].conv0_filters);
        }
        iris_darknet_cfg_close(&c);
    }
    /* yolov3-tiny: "layers = -1, 8" and its last yolo head */
    const char *path = test_data("yolo/cfg/yolov3-tiny.cfg");
    if (!path) return;
    iris_darknet_cfg c;
    CHECK_OK(iris_darknet_cfg_open(&c, path));
    iris_darknet_section *r = nth(&c, "route", 1), *y = nth(&c, "yolo", 1);
    CHECK(r && y);
    if (r && y) {
        int layers[2], n = 0, anchors[12];
        CHECK_INT(r->line, 156);
        CHECK_OK(iris_darknet_ints(r, "layers", layers, 2, &n));
        CHECK(n == 2 && layers[0] == -1 && layers[1] == 8);
        CHECK_OK(iris_darknet_ints(y, "anchors", anchors, 12, &n));
        CHECK(n == 12 && anchors[0] == 10 && anchors[5] == 58 && anchors[11] == 319);
        float jitter = 0;
        CHECK_OK(iris_darknet_float(y, "jitter", 0, &jitter));
        CHECK(jitter == 0.3f);
    }
    iris_darknet_cfg_close(&c);
    /* yolov4-tiny: a grouped route */
    path = test_data("yolo/cfg/yolov4-tiny.cfg");
    if (!path) return;
    CHECK_OK(iris_darknet_cfg_open(&c, path));
    r = nth(&c, "route", 0);
    if (r) {
        int groups = 0, gid = 0;
        CHECK_INT(r->line, 58);
        CHECK_OK(iris_darknet_int(r, "groups", 1, &groups));
        CHECK_OK(iris_darknet_int(r, "group_id", 0, &gid));
        CHECK(groups == 2 && gid == 1);
    }
    iris_darknet_cfg_close(&c);
}

/* ---------------------------------------------------------------- cfg syntax */

static iris_status parse_str(iris_darknet_cfg *c, const char *text) {
    return iris_darknet_cfg_parse(c, text, strlen(text), "t.cfg");
}

TEST(darknet_cfg_syntax) {
    const char *text =
        "# leading comment\r\n"
        "; another\r\n"
        "\r\n"
        "[ net ]\r\n"
        "width = 416   # trailing comment\r\n"
        "\theight=\t208 \r\n"
        "width=999\r\n" /* the first of two equal keys wins, as in darknet */
        "name = a b c\r\n"
        "[convolutional]\n"
        "filters=-3\n"
        "neg=-0.5e-2\n"
        "plus=+7\n"
        "[convolutional]\n"
        "[route]\n"
        "layers = -1 ,  8,\t-12\n"
        "one = 5\n"
        "fl = 1, .5, -2e3";
    iris_darknet_cfg c;
    CHECK_OK(parse_str(&c, text));
    CHECK_INT(c.n_sections, 4);
    if (c.n_sections != 4) { iris_darknet_cfg_close(&c); return; }
    iris_darknet_section *net = &c.sections[0];
    CHECK(!strcmp(net->type, "net"));
    CHECK_INT(net->line, 4);
    CHECK_INT(net->n_opts, 4);
    int v = 0, n = 0, ints[4];
    float f = 0, fl[4];
    CHECK_OK(iris_darknet_int(net, "width", 0, &v));
    CHECK_INT(v, 416);
    CHECK_OK(iris_darknet_int(net, "height", 0, &v));
    CHECK_INT(v, 208);
    CHECK(!strcmp(iris_darknet_str(net, "name", ""), "a b c"));
    CHECK_INT(net->opts[1].line, 6);
    CHECK_INT(iris_darknet_check_unused(net), IRIS_ERR_UNSUPPORTED); /* the second width is never read */
    CHECK(strstr(iris_last_error(), "t.cfg:7: [net] option 'width' is repeated; line 5's value is the one used"));
    iris_darknet_section *c1 = &c.sections[1], *c2 = &c.sections[2], *r = &c.sections[3];
    CHECK_OK(iris_darknet_int(c1, "filters", 0, &v));
    CHECK_INT(v, -3);
    CHECK_OK(iris_darknet_float(c1, "neg", 0, &f));
    CHECK(f == -0.005f);
    CHECK_OK(iris_darknet_int(c1, "plus", 0, &v));
    CHECK_INT(v, 7);
    CHECK_OK(iris_darknet_float(c1, "filters", 0, &f)); /* an integer is a fine float */
    CHECK(f == -3.0f);
    CHECK_INT(c2->n_opts, 0);
    CHECK(c2->opts == NULL);
    CHECK_OK(iris_darknet_int(c2, "filters", 12, &v));
    CHECK_INT(v, 12);
    CHECK_OK(iris_darknet_check_unused(c2));
    CHECK_INT(iris_darknet_list_len(r, "layers"), 3);
    CHECK_INT(iris_darknet_list_len(r, "one"), 1);
    CHECK_INT(iris_darknet_list_len(r, "absent"), 0);
    CHECK_OK(iris_darknet_ints(r, "layers", ints, 4, &n));
    CHECK(n == 3 && ints[0] == -1 && ints[1] == 8 && ints[2] == -12);
    CHECK_OK(iris_darknet_ints(r, "one", ints, 1, &n));
    CHECK(n == 1 && ints[0] == 5);
    n = 9;
    CHECK_OK(iris_darknet_ints(r, "absent", ints, 4, &n));
    CHECK_INT(n, 0);
    CHECK_OK(iris_darknet_floats(r, "fl", fl, 4, &n));
    CHECK(n == 3 && fl[0] == 1.0f && fl[1] == 0.5f && fl[2] == -2000.0f);
    CHECK_INT(iris_darknet_ints(r, "fl", ints, 4, &n), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "'fl' item 2 is not an integer: '.5'"));
    CHECK_INT(n, 0);
    CHECK_INT(iris_darknet_count(&c, "convolutional"), 2);
    CHECK_INT(iris_darknet_find(&c, "convolutional", 1), 2);
    CHECK_INT(iris_darknet_find(&c, "convolutional", 2), -1);
    CHECK_INT(iris_darknet_find(&c, "yolo", 0), -1);
    iris_darknet_cfg_close(&c);

    /* empty text and comment-only text are valid, with no sections */
    CHECK_OK(parse_str(&c, ""));
    CHECK_INT(c.n_sections, 0);
    iris_darknet_cfg_close(&c);
    CHECK_OK(parse_str(&c, "# nothing\n;\n\n   \n"));
    CHECK_INT(c.n_sections, 0);
    iris_darknet_cfg_close(&c);
}

TEST(darknet_cfg_bad_values) {
    iris_darknet_cfg c;
    CHECK_OK(parse_str(&c, "[x]\na=1.5\nb=3x\nc=99999999999\nd=nan\ne=inf\nf=1e39\ng=1,,2\nh=1,\ni=0x10\nj= - 1\nk=1e-50\n"));
    if (!c.n_sections) return;
    iris_darknet_section *s = &c.sections[0];
    int v = 0, n = 0, arr[4];
    float f = 0;
    static const char *bad_ints[] = {"a", "b", "c", "d", "i", "j"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        CHECK_INT(iris_darknet_int(s, bad_ints[i], 5, &v), IRIS_ERR_FORMAT);
        CHECK(strstr(iris_last_error(), "is not an integer"));
    }
    static const char *bad_floats[] = {"b", "d", "e", "f", "j"};
    for (size_t i = 0; i < sizeof bad_floats / sizeof bad_floats[0]; i++)
        CHECK_INT(iris_darknet_float(s, bad_floats[i], 0, &f), IRIS_ERR_FORMAT);
    CHECK_OK(iris_darknet_float(s, "k", 1, &f)); /* underflows to 0, which is finite */
    CHECK(f == 0.0f);
    CHECK_OK(iris_darknet_float(s, "a", 0, &f));
    CHECK(f == 1.5f);
    CHECK_INT(iris_darknet_ints(s, "g", arr, 4, &n), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "t.cfg:8: [x] 'g' item 2 is not an integer: ''"));
    CHECK_INT(iris_darknet_ints(s, "h", arr, 4, &n), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "'h' item 2"));
    iris_darknet_cfg_close(&c);
}

/* Each broken text fails with a message naming file and line. */
TEST(darknet_cfg_rejects_bad_syntax) {
    static const struct { const char *text, *needle; } cases[] = {
        {"width=3\n[net]\n", "t.cfg:1: option 'width=3' comes before the first [section]"},
        {"[net\nwidth=3\n", "t.cfg:1: section header '[net' lacks ']'"},
        {"[net]\n[]\n", "t.cfg:2: bad section name '[]'"},
        {"[net]\n[  ]\n", "t.cfg:2: bad section name"},
        {"[net]\n[a=b]\n", "t.cfg:2: bad section name '[a=b]'"},
        {"[net]\n[[x]]\n", "t.cfg:2: bad section name"},
        {"[net]\nwidth 3\n", "t.cfg:2: expected key=value or [section], got 'width 3'"},
        {"[net]\n=3\n", "t.cfg:2: option without a key"},
        {"[net]\n\n\nwidth=\n", "t.cfg:4: option 'width' has no value"},
        {"[net]\nwidth= # nothing\n", "t.cfg:2: option 'width' has no value"},
        {"[net]x\n", "lacks ']'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iris_darknet_cfg c;
        iris_status rc = parse_str(&c, cases[i].text);
        CHECK_MSG(rc == IRIS_ERR_FORMAT && strstr(iris_last_error(), cases[i].needle), "case %zu: %s -> %s", i,
                  iris_status_name(rc), iris_last_error());
        CHECK(c.n_sections == 0 && c.sections == NULL);
        if (!rc) iris_darknet_cfg_close(&c);
    }
    /* a NUL byte inside the text */
    iris_darknet_cfg c;
    const char withnul[] = "[net]\nwidth=3\0\n";
    CHECK_INT(iris_darknet_cfg_parse(&c, withnul, sizeof withnul - 1, "t.cfg"), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "t.cfg:2: line contains a NUL byte"));
    /* a very long line and many sections are fine */
    size_t big = 200000;
    char *t = malloc(big + 64);
    strcpy(t, "[net]\nanchors=");
    size_t k = strlen(t);
    while (k < big) t[k++] = '1', t[k++] = ',';
    t[k++] = '2';
    t[k] = 0;
    CHECK_OK(iris_darknet_cfg_parse(&c, t, k, "big.cfg"));
    if (c.n_sections) {
        CHECK_INT(iris_darknet_list_len(&c.sections[0], "anchors"), (int)((k - 14) / 2 + 1));
        iris_darknet_cfg_close(&c);
    }
    k = 0;
    for (int i = 0; i < 20000 && k + 8 < big; i++) memcpy(t + k, "[s]\na=1\n", 8), k += 8;
    CHECK_OK(iris_darknet_cfg_parse(&c, t, k, "many.cfg"));
    CHECK_INT(c.n_sections, 20000);
    if (c.n_sections == 20000) CHECK(!strcmp(c.sections[19999].opts[0].value, "1") && c.sections[19999].line == 39999);
    iris_darknet_cfg_close(&c);
    free(t);
    CHECK_INT(iris_darknet_cfg_open(&c, "/nonexistent/x.cfg"), IRIS_ERR_IO);
}

/* Cutting a real cfg anywhere never crashes; what parses is a prefix of the full parse. */
TEST(darknet_cfg_truncated_everywhere) {
    const char *path = test_data("yolo/cfg/yolov3-tiny.cfg");
    if (!path) return;
    char *text;
    size_t n;
    CHECK_OK(iris_read_file(path, &text, &n));
    if (!text) return;
    iris_darknet_cfg full;
    CHECK_OK(iris_darknet_cfg_parse(&full, text, n, "full.cfg"));
    int bad = 0, ok = 0;
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, text, len);
        iris_darknet_cfg c;
        iris_status rc = iris_darknet_cfg_parse(&c, copy, len, "cut.cfg");
        if (!rc) {
            ok++;
            if (c.n_sections > full.n_sections) bad++;
            for (int i = 0; i < c.n_sections; i++)
                if (strcmp(c.sections[i].type, full.sections[i].type) || c.sections[i].n_opts > full.sections[i].n_opts)
                    bad++;
            iris_darknet_cfg_close(&c);
        } else if (strncmp(iris_last_error(), "cut.cfg:", 8)) {
            bad++;
        }
        free(copy);
    }
    CHECK_INT(bad, 0);
    CHECK(ok > (int)n / 5 && ok < (int)n - (int)n / 5); /* cuts inside values parse, cuts inside keys do not */
    iris_darknet_cfg_close(&full);
    free(text);
}

/* ---------------------------------------------------------------- weights */

TEST(darknet_weights_yolo_fastest) {
    const char *path = test_data("yolo/yolo-fastest-1.1.weights");
    if (!path) return;
    iris_darknet_weights w;
    CHECK_OK(iris_darknet_weights_open(&w, path));
    if (!w.data) return;
    CHECK_INT(w.major, 0);
    CHECK_INT(w.minor, 2);
    CHECK_INT(w.revision, 5);
    CHECK_INT(w.seen, 14231680);
    CHECK_INT(w.header_bytes, 20);
    CHECK_INT(w.size, 1384268);
    CHECK_INT(iris_darknet_weights_remaining(&w), (1384268 - 20) / 4);
    CHECK_INT(iris_darknet_weights_remaining(&w), 346062);
    float f[4], one;
    CHECK_OK(iris_darknet_weights_read(&w, f, 4, "first"));
    CHECK(f[0] == 4.344701766967773f && f[1] == 1.7091338634490967f && f[2] == 1.3497098684310913f &&
          f[3] == -6.202226161956787f);
    CHECK_OK(iris_darknet_weights_read(&w, NULL, 4, "skip"));
    CHECK_OK(iris_darknet_weights_read(&w, &one, 1, "ninth"));
    CHECK(one == 2.1601173877716064f);
    CHECK_OK(iris_darknet_weights_read(&w, f, 0, "nothing"));
    CHECK_OK(iris_darknet_weights_read(&w, NULL, 100000 - 9, "skip"));
    CHECK_OK(iris_darknet_weights_read(&w, &one, 1, "float 100000"));
    CHECK(one == 0.020711325109004974f);
    uint64_t left = iris_darknet_weights_remaining(&w);
    CHECK_INT(left, 346062 - 100001);
    CHECK_INT(iris_darknet_weights_read(&w, NULL, (size_t)left + 1, "layer 83 weights"), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "layer 83 weights needs 246062 floats but only 246061 remain (at float 100001)"));
    CHECK_INT(iris_darknet_weights_remaining(&w), left); /* cursor unchanged */
    CHECK_OK(iris_darknet_weights_read(&w, NULL, (size_t)left - 1, "skip"));
    CHECK_OK(iris_darknet_weights_read(&w, &one, 1, "last"));
    CHECK(one == 0.0025571398437023163f);
    CHECK_INT(iris_darknet_weights_remaining(&w), 0);
    CHECK_INT(iris_darknet_weights_read(&w, &one, 1, "one more"), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), path) && strstr(iris_last_error(), "only 0 remain"));
    iris_darknet_weights_close(&w);
    CHECK_INT(iris_darknet_weights_remaining(&w), 0);

    path = test_data("yolo/yolo-fastest-1.1-xl.weights");
    if (!path) return;
    CHECK_OK(iris_darknet_weights_open(&w, path));
    CHECK(w.major == 0 && w.minor == 2 && w.revision == 5 && w.seen == 16000000);
    CHECK_INT(iris_darknet_weights_remaining(&w), 923486);
    CHECK_OK(iris_darknet_weights_read(&w, f, 1, "first"));
    CHECK(f[0] == -0.466622531414032f);
    iris_darknet_weights_close(&w);
    CHECK_INT(iris_darknet_weights_open(&w, "/nonexistent/x.weights"), IRIS_ERR_IO);
}

static size_t make_weights(uint8_t *b, int32_t major, int32_t minor, int32_t rev, uint64_t seen, int wide, int nf) {
    size_t k = 0;
    memcpy(b + k, &major, 4), k += 4;
    memcpy(b + k, &minor, 4), k += 4;
    memcpy(b + k, &rev, 4), k += 4;
    if (wide) memcpy(b + k, &seen, 8), k += 8;
    else {
        uint32_t s = (uint32_t)seen;
        memcpy(b + k, &s, 4), k += 4;
    }
    for (int i = 0; i < nf; i++) {
        float f = (float)i + 0.5f;
        memcpy(b + k, &f, 4), k += 4;
    }
    return k;
}

TEST(darknet_weights_headers) {
    uint8_t b[256];
    iris_darknet_weights w;
    /* 0.1 and older: 32-bit seen */
    size_t n = make_weights(b, 0, 1, 0, 77, 0, 3);
    CHECK_OK(iris_darknet_weights_parse(&w, b, n, "old.weights"));
    CHECK(w.header_bytes == 16 && w.seen == 77 && iris_darknet_weights_remaining(&w) == 3);
    float f[3];
    CHECK_OK(iris_darknet_weights_read(&w, f, 3, "all"));
    CHECK(f[0] == 0.5f && f[2] == 2.5f);
    /* 1.0 (10 >= 2) and 0.2: 64-bit seen */
    n = make_weights(b, 1, 0, 0, 1ull << 40, 1, 2);
    CHECK_OK(iris_darknet_weights_parse(&w, b, n, "v10.weights"));
    CHECK(w.header_bytes == 20 && w.seen == 1ull << 40 && iris_darknet_weights_remaining(&w) == 2);
    n = make_weights(b, 1000, 1000, 0, 5, 1, 1);
    CHECK_OK(iris_darknet_weights_parse(&w, b, n, "edge.weights"));
    CHECK(w.header_bytes == 20 && w.seen == 5);
    /* header only: no floats */
    n = make_weights(b, 0, 2, 0, 0, 1, 0);
    CHECK_OK(iris_darknet_weights_parse(&w, b, n, "empty.weights"));
    CHECK_INT(iris_darknet_weights_remaining(&w), 0);
    CHECK_INT(iris_darknet_weights_read(&w, f, 1, "bias"), IRIS_ERR_FORMAT);
    /* hostile versions */
    n = make_weights(b, 1001, 0, 0, 0, 0, 2);
    CHECK_INT(iris_darknet_weights_parse(&w, b, n, "h.weights"), IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "h.weights: weights version 1001.0"));
    n = make_weights(b, 0, 0x7fffffff, 0, 0, 0, 2);
    CHECK_INT(iris_darknet_weights_parse(&w, b, n, "h.weights"), IRIS_ERR_UNSUPPORTED);
    n = make_weights(b, -1, 2, 0, 0, 1, 2);
    CHECK_INT(iris_darknet_weights_parse(&w, b, n, "h.weights"), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "negative weights version -1.2"));
    n = make_weights(b, 0, (int32_t)0x80000000u, 0, 0, 1, 2);
    CHECK_INT(iris_darknet_weights_parse(&w, b, n, "h.weights"), IRIS_ERR_FORMAT);
    CHECK(w.data == NULL && iris_darknet_weights_remaining(&w) == 0);
    /* a trailing partial float */
    n = make_weights(b, 0, 2, 0, 0, 1, 2);
    CHECK_INT(iris_darknet_weights_parse(&w, b, n + 3, "h.weights"), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "the 11 bytes after the header are not a whole number of floats"));
}

/* Every prefix of a small valid file: too short for its header or partial floats
   fail cleanly, the rest parse with the right float count. */
TEST(darknet_weights_truncated_everywhere) {
    uint8_t b[256];
    static const struct { int32_t major, minor; int wide; } vers[] = {{0, 2, 1}, {0, 1, 0}, {1, 0, 1}};
    for (size_t v = 0; v < 3; v++) {
        size_t n = make_weights(b, vers[v].major, vers[v].minor, 3, 1234, vers[v].wide, 5);
        size_t hdr = vers[v].wide ? 20 : 16;
        int wrong = 0;
        for (size_t len = 0; len <= n; len++) {
            uint8_t *copy = malloc(len ? len : 1);
            memcpy(copy, b, len);
            iris_darknet_weights w;
            iris_status rc = iris_darknet_weights_parse(&w, copy, len, "cut.weights");
            int should_ok = len >= hdr && (len - hdr) % 4 == 0;
            if ((rc == IRIS_OK) != should_ok) wrong++;
            if (rc && strncmp(iris_last_error(), "cut.weights: ", 13)) wrong++;
            if (!rc) {
                uint64_t left = iris_darknet_weights_remaining(&w);
                if (left != (len - hdr) / 4) wrong++;
                float f[5];
                if (iris_darknet_weights_read(&w, f, (size_t)left, "all")) wrong++;
                if (left && f[left - 1] != (float)(left - 1) + 0.5f) wrong++;
                if (iris_darknet_weights_read(&w, f, 1, "beyond") != IRIS_ERR_FORMAT) wrong++;
            }
            free(copy);
        }
        CHECK_MSG(wrong == 0, "version %d.%d: %d wrong", vers[v].major, vers[v].minor, wrong);
    }
}
