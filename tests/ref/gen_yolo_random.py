"""gen_yolo_random.py - OpenCV DNN outputs of darknet YOLO cfgs with random weights.

    /usr/bin/python3 tests/ref/gen_yolo_random.py [name ...]      (from the repo root)

Writes tests/ref/yolo/<name>.safetensors (see tests/ref/yolo/README.md). The weights
and the input follow the spec in tests/ref/yolo_random.py; tests/yolo_random.c builds
the same bytes in C, and test_yolo_random checks it against the SHA-256 stored here.
Needs opencv-python-headless 4.10 (pip; Debian's 4.6 must not shadow it).
"""
import hashlib
import os
import sys
import tempfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refio  # noqa: E402
import yolo_random as yr  # noqa: E402

SEED = 1  # of seeds 1..12 one of the two keeping every head |max| <= 10 (others reach 32)
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data/yolo")
if not os.path.isdir(DATA):
    DATA = "/work/shared/data/yolo"

# name: (cfg relative to shared/data/yolo, fixture width, height). Small sizes keep the
# fixtures small; yolov4-tiny is deliberately not square (W != H).
MODELS = {
    "yolov3-tiny": ("cfg/yolov3-tiny.cfg", 128, 128),
    "yolov4-tiny": ("cfg/yolov4-tiny.cfg", 160, 96),
    "yolov3": ("cfg/yolov3.cfg", 96, 96),
    "yolov4": ("cfg/yolov4.cfg", 96, 96),
    "yolov4-csp": ("cfg/yolov4-csp.cfg", 96, 96),
    "yolov7-tiny": ("cfg/yolov7-tiny.cfg", 96, 96),
    "yolo-fastest-1.1": ("yolo-fastest-1.1.cfg", 160, 160),
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def decode(head, anchors, n_cls, W, H, sxy, new_coords, thresh):
    """Our reading of OpenCV's region layer (no NMS), to check the README's formula."""
    a_n = len(anchors)
    _, C, gh, gw = head.shape
    t = head.reshape(a_n, 5 + n_cls, gh, gw).transpose(2, 3, 0, 1).astype(np.float64)  # y, x, a, 85
    gx = np.arange(gw)[None, :, None]
    gy = np.arange(gh)[:, None, None]
    aw = np.array([a[0] for a in anchors])[None, None, :]
    ah = np.array([a[1] for a in anchors])[None, None, :]
    out = np.zeros_like(t)
    if new_coords:
        out[..., 0] = (gx + (t[..., 0] - 0.5) * sxy + 0.5) / gw
        out[..., 1] = (gy + (t[..., 1] - 0.5) * sxy + 0.5) / gh
        out[..., 2] = t[..., 2] ** 2 * 4 * aw / W
        out[..., 3] = t[..., 3] ** 2 * 4 * ah / H
        obj, cls = t[..., 4], t[..., 5:]
    else:
        out[..., 0] = (gx + (sigmoid(t[..., 0]) - 0.5) * sxy + 0.5) / gw
        out[..., 1] = (gy + (sigmoid(t[..., 1]) - 0.5) * sxy + 0.5) / gh
        out[..., 2] = np.exp(t[..., 2]) * aw / W
        out[..., 3] = np.exp(t[..., 3]) * ah / H
        obj, cls = sigmoid(t[..., 4]), sigmoid(t[..., 5:])
    out[..., 4] = obj
    p = obj[..., None] * cls
    out[..., 5:] = np.where(p > thresh, p, 0)
    return out.reshape(-1, 5 + n_cls)


def heads_of(secs):
    """[(yolo layer index, conv layer index, yolo options)] in cfg order."""
    out = []
    for li, (t, d, ln) in enumerate(secs[1:]):
        if t == "yolo":
            assert secs[li][0] == "convolutional", "line %d: [yolo] not after a conv" % ln
            out.append((li, li - 1, d))
    return out


def last_cv_name(names, layer):
    """OpenCV's name of the last node of cfg layer `layer`: the node just before the
    region layer's permute ('permute_<yolo layer>')."""
    return names[names.index("permute_%d" % layer) - 1]


def make(name):
    rel, W, H = MODELS[name]
    text = open(os.path.join(DATA, rel)).read()
    secs = yr.parse_cfg(text)
    wb = yr.weights_bytes(secs, SEED)
    _, convs = yr.walk(secs)
    assert len(wb) == 20 + 4 * sum(cv["n"] * (4 if cv["bn"] else 1) + cv["n"] * cv["c"] // cv["groups"] * cv["k"] ** 2
                                   for cv in convs)
    tmp = tempfile.mkdtemp(prefix="yolo_random_")
    cfg_p, w_p = os.path.join(tmp, name + ".cfg"), os.path.join(tmp, name + ".weights")
    with open(cfg_p, "w") as f:
        f.write(yr.with_size(text, W, H))
    with open(w_p, "wb") as f:
        f.write(wb)
    x = yr.input_tensor(SEED, 3, H, W)

    net = cv2.dnn.readNetFromDarknet(cfg_p, w_p)
    names = list(net.getLayerNames())
    # OpenCV inferred the conv input channels itself: they must match our walker.
    for cv in convs:
        got = net.getParam("conv_%d" % cv["layer"], 0).shape
        assert got == (cv["n"], cv["c"] // cv["groups"], cv["k"], cv["k"]), (name, cv, got)

    heads = heads_of(secs)
    head_names = [last_cv_name(names, yl) for yl, cl, d in heads]
    yolo_names = ["yolo_%d" % yl for yl, cl, d in heads]
    assert sorted(yolo_names) == sorted(net.getUnconnectedOutLayersNames()), net.getUnconnectedOutLayersNames()

    # Unfused, so each named node's output is exactly that node's. (A net that has run
    # fused keeps its BN folded into the conv weights: a second, fresh net runs fused.)
    net.enableFusion(False)
    net.setInput(x)
    outs = net.forward(head_names + yolo_names)
    hv, yv = outs[:len(heads)], outs[len(heads):]
    fnet = cv2.dnn.readNetFromDarknet(cfg_p, w_p)
    fnet.setInput(x)
    fused = fnet.forward(yolo_names)  # as an application runs it
    fused_diff = max(float((np.abs(a - b) / (1e-3 + np.abs(b))).max()) for a, b in zip(fused, yv))

    tensors, meta = {}, {
        "generator": "tests/ref/gen_yolo_random.py", "opencv": cv2.__version__, "numpy": np.__version__,
        "cfg": "yolo/" + rel, "seed": SEED, "width": W, "height": H,
        "weights_bytes": len(wb), "weights_sha256": hashlib.sha256(wb).hexdigest(),
        "input_sha256": hashlib.sha256(x.astype("<f4").tobytes()).hexdigest(),
        "n_heads": len(heads), "fused_vs_unfused_max_rel": "%.3g" % fused_diff,
    }
    for k, ((yl, cl, d), hname, h, y) in enumerate(zip(heads, head_names, hv, yv)):
        anchors = [float(v) for v in d["anchors"].split(",")]
        anchors = [(anchors[2 * m], anchors[2 * m + 1]) for m in yr._ints(d["mask"])]
        n_cls = int(d["classes"])
        sxy = float(d.get("scale_x_y", 1))
        nc = int(d.get("new_coords", 0))
        want = decode(h, anchors, n_cls, W, H, sxy, nc, 0.2)
        err = np.abs(want - y)
        # float32 vs float64 rounding only; a class score within 1e-5 of the 0.2 threshold may flip
        bad = (err > 1e-4 + 1e-4 * np.abs(want)) & ~(np.abs(np.maximum(want, y) - 0.2) < 1e-4)
        assert not bad.any(), (name, k, float(err.max()), np.argwhere(bad)[:5])
        tensors["head%d" % k] = h.astype(np.float32)
        tensors["yolo%d" % k] = y.astype(np.float32)
        meta.update({"head%d_layer" % k: cl, "head%d_opencv" % k: hname, "yolo%d_layer" % k: yl,
                     "yolo%d_opencv" % k: "yolo_%d" % yl, "yolo%d_decode_max_abs" % k: "%.3g" % err.max()})
        print("  head%d = layer %d (%s) %s std %.3g |max| %.3g; yolo%d %s, %d scores > 0.2, decode err %.2g"
              % (k, cl, hname, h.shape, h.std(), np.abs(h).max(), k, y.shape, int((y[:, 5:] > 0).sum()), err.max()))
    # Per-conv float counts and sums: lets the C test say which layer diverges.
    off, counts, sums = 20, [], []
    for cv in convs:
        nf = cv["n"] * (4 if cv["bn"] else 1) + cv["n"] * cv["c"] // cv["groups"] * cv["k"] ** 2
        v = np.frombuffer(wb, "<f4", nf, off).astype(np.float64)
        off += 4 * nf
        counts.append(nf)
        sums.append(v.sum())
    tensors["conv_layer"] = np.array([cv["layer"] for cv in convs], np.int64)
    tensors["conv_floats"] = np.array(counts, np.int64)
    tensors["conv_sum"] = np.array(sums, np.float64)
    os.makedirs(os.path.join(os.path.dirname(os.path.abspath(__file__)), "yolo"), exist_ok=True)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yolo", name + ".safetensors")
    refio.save(out, tensors, meta)
    os.remove(cfg_p)
    os.remove(w_p)
    os.rmdir(tmp)
    print("%s: %d B weights, sha256 %s, fused diff %.2g -> %s (%d B)"
          % (name, len(wb), meta["weights_sha256"][:16], fused_diff, out, os.path.getsize(out)))


if __name__ == "__main__":
    for n in sys.argv[1:] or MODELS:
        make(n)
