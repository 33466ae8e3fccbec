"""detect_peers.py - the peers `detect` is timed against: OpenCV DNN and pjreddie darknet on a YOLO cfg.

    /usr/bin/python3 bench/detect_peers/detect_peers.py --cfg ../shared/data/yolo/yolo-fastest-1.1.cfg \
        --weights ../shared/data/yolo/yolo-fastest-1.1.weights --size 320 \
        --images ../shared/data/images --threads 2 [--peer all] [--repeat 5] [--runs 100] [--out dets.jsonl]

Peers (--peer, default all):
  opencv_net     OpenCV DNN, network only: setInput + forward of a fixed letterboxed blob
                 (the first image), after --warmup runs; images/s over --runs runs.
  opencv_folder  OpenCV DNN, the whole folder run: cv2.imread -> darknet letterbox (darknet's integer
                 geometry, cv2.resize INTER_LINEAR, 0.5 grey) -> forward -> boxes mapped to image pixels ->
                 score > --thresh -> per-class NMS (cv2.dnn.NMSBoxes, IoU --nms) -> one JSON line per image
                 (to --out, default /dev/null), for every image --repeat times; images/s over all of it.
  darknet_net    libdarknet.so from the Debian `darknet` package (pjreddie, 2018) via ctypes, network only:
                 network_predict on a fixed input. Runs in a child process (darknet exit()s on errors).
                 That darknet is single-threaded (no OpenMP, no BLAS) whatever --threads says. It lacks
                 features newer cfgs use (route groups/group_id in yolov4-tiny, mish in yolov4-csp...):
                 when its log shows such a field ignored the network it ran is not the cfg's, and the
                 result is an "error" note instead of a number.
Prints one JSON line: {"cfg", "size", "threads", "opencv", <peer>: {"img_per_s", ...} or {"error": ...}}.
Load time is never counted. Run it with nothing else busy: this only measures, it does not compare.
"""
import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

DARKNET_LIB = "/usr/lib/darknet/libdarknet.so"
# cfg fields whose being ignored by pjreddie darknet changes the network it computes
STRUCTURAL = {"groups", "group_id", "weights_type", "weights_normalization", "antialiasing", "dilation",
              "stride_x", "stride_y", "share_index", "reverse"}
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def sized_cfg(cfg, size, tmpdir):
    """A copy of the cfg with [net] width/height = size and batch = subdivisions = 1."""
    out, in_net = [], False
    for raw in open(cfg).read().splitlines(keepends=True):
        s = raw.strip()
        if s.startswith("["):
            in_net = s == "[net]"
        elif in_net:
            key = s.split("=", 1)[0].strip()
            if key in ("width", "height"):
                raw = "%s=%d\n" % (key, size)
            elif key in ("batch", "subdivisions"):
                raw = "%s=1\n" % key
        out.append(raw)
    path = os.path.join(tmpdir, os.path.basename(cfg))
    with open(path, "w") as f:
        f.write("".join(out))
    return path


def letterbox_geometry(w, h, size):
    """darknet letterbox_image: the resized size and its offset on the size x size canvas."""
    if size / w < size / h:
        nw, nh = size, (h * size) // w
    else:
        nw, nh = (w * size) // h, size
    return nw, nh, (size - nw) // 2, (size - nh) // 2


def letterbox(img_bgr, size):
    """NCHW float32 RGB blob in [0, 1] on a 0.5 canvas, and the geometry used."""
    h, w = img_bgr.shape[:2]
    nw, nh, dx, dy = letterbox_geometry(w, h, size)
    resized = cv2.resize(img_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, 3), 0.5, np.float32)
    canvas[dy:dy + nh, dx:dx + nw] = resized[:, :, ::-1].astype(np.float32) * (1.0 / 255.0)
    return canvas.transpose(2, 0, 1)[None].copy(), (nw, nh, dx, dy)


def yolo_out_names(net):
    return list(net.getUnconnectedOutLayersNames())


def load_opencv(cfg, weights, threads):
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromDarknet(cfg, weights)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


def list_images(folder):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXT))


def peer_opencv_net(a, cfg, images):
    net = load_opencv(cfg, a.weights, a.threads)
    blob, _ = letterbox(cv2.imread(images[0]), a.size)
    names = yolo_out_names(net)
    for _ in range(a.warmup):
        net.setInput(blob)
        net.forward(names)
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        net.setInput(blob)
        net.forward(names)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    return {"img_per_s": round(a.runs / total, 2), "runs": a.runs, "warmup": a.warmup,
            "median_ms": round(1000 * float(np.median(times)), 3)}


def decode(outs, geo, w, h, size, thresh, nms, names):
    """Detections in original-image pixels from OpenCV's yolo outputs (rows cx, cy, w, h, obj, scores)."""
    nw, nh, dx, dy = geo
    det = np.concatenate([o.reshape(-1, o.shape[-1]) for o in outs])
    scores = det[:, 5:]
    rows, cls = np.nonzero(scores > thresh)
    if not len(rows):
        return []
    # undo the letterbox (darknet's correct_yolo_boxes), then scale to the image
    cx = (det[rows, 0] * size - dx) / nw * w
    cy = (det[rows, 1] * size - dy) / nh * h
    bw = det[rows, 2] * size / nw * w
    bh = det[rows, 3] * size / nh * h
    sc = scores[rows, cls]
    out = []
    for c in np.unique(cls):
        m = np.nonzero(cls == c)[0]
        boxes = [[float(cx[i] - bw[i] / 2), float(cy[i] - bh[i] / 2), float(bw[i]), float(bh[i])] for i in m]
        keep = cv2.dnn.NMSBoxes(boxes, sc[m].astype(float).tolist(), thresh, nms)
        for k in np.array(keep).reshape(-1):
            x, y, bwk, bhk = boxes[k]
            out.append({"class_id": int(c), "name": names[c] if c < len(names) else str(c),
                        "score": round(float(sc[m[k]]), 6), "box": [round(x, 2), round(y, 2),
                                                                     round(x + bwk, 2), round(y + bhk, 2)]})
    out.sort(key=lambda d: -d["score"])
    return out


def peer_opencv_folder(a, cfg, images):
    net = load_opencv(cfg, a.weights, a.threads)
    names = [s.strip() for s in open(a.names)] if a.names and os.path.exists(a.names) else []
    outs_names = yolo_out_names(net)
    blob, _ = letterbox(cv2.imread(images[0]), a.size)
    net.setInput(blob)
    net.forward(outs_names)  # warm-up: first-run allocations are not the folder's cost
    n_img = n_det = failed = 0
    with open(a.out, "w") as f:
        t0 = time.perf_counter()
        for _ in range(a.repeat):
            for path in images:
                img = cv2.imread(path)
                if img is None:
                    failed += 1
                    continue
                h, w = img.shape[:2]
                blob, geo = letterbox(img, a.size)
                net.setInput(blob)
                dets = decode(net.forward(outs_names), geo, w, h, a.size, a.thresh, a.nms, names)
                f.write(json.dumps({"file": path, "width": w, "height": h, "detections": dets}) + "\n")
                n_img += 1
                n_det += len(dets)
        total = time.perf_counter() - t0
    return {"img_per_s": round(n_img / total, 2), "images": n_img, "repeat": a.repeat, "failed": failed,
            "detections": n_det, "thresh": a.thresh, "nms": a.nms}


def darknet_child(a, cfg):
    """Runs inside the child process: prints one JSON line."""
    lib = ctypes.CDLL(DARKNET_LIB)
    lib.load_network.restype = ctypes.c_void_p
    lib.load_network.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.set_batch_network.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.network_width.argtypes = lib.network_height.argtypes = [ctypes.c_void_p]
    lib.network_predict.restype = ctypes.POINTER(ctypes.c_float)
    lib.network_predict.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)]
    net = lib.load_network(cfg.encode(), a.weights.encode(), 0)
    lib.set_batch_network(net, 1)
    w, h = lib.network_width(net), lib.network_height(net)
    x = np.random.default_rng(0).random(3 * w * h, dtype=np.float32)
    xp = x.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    for _ in range(a.warmup):
        lib.network_predict(net, xp)
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        lib.network_predict(net, xp)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"img_per_s": round(a.runs / sum(times), 2), "runs": a.runs, "warmup": a.warmup,
                      "median_ms": round(1000 * float(np.median(times)), 3), "input": [w, h],
                      "threads_used": 1}))


def peer_darknet_net(a, cfg):
    if not os.path.exists(DARKNET_LIB):
        return {"error": "%s not found (Debian package darknet)" % DARKNET_LIB}
    cmd = [sys.executable, os.path.abspath(__file__), "--darknet-child", "--cfg", cfg, "--weights", a.weights,
           "--size", str(a.size), "--runs", str(a.runs), "--warmup", str(a.warmup), "--images", a.images]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.darknet_timeout)
    except subprocess.TimeoutExpired:
        return {"error": "darknet took longer than %d s" % a.darknet_timeout}
    log = p.stderr
    ignored = sorted(set(re.findall(r"Unused field: '(\w+) = ", log)))
    bad = [k for k in ignored if k in STRUCTURAL]
    acts = sorted(set(re.findall(r"Couldn't find activation function (\w+)", log)))
    kinds = sorted(set(re.findall(r"Type not recognized: \[?(\w+)", log)))
    if p.returncode or not p.stdout.strip():
        tail = " | ".join(log.strip().splitlines()[-3:])
        return {"error": "darknet failed (exit %d)%s: %s" % (p.returncode,
                                                             ", unknown layer kinds %s" % kinds if kinds else "", tail)}
    if bad or acts:
        return {"error": "pjreddie darknet cannot run this cfg as written: it ignored %s%s, so the network it "
                         "computes is not the cfg's; no number reported" %
                         (", ".join(bad) or "no structural field",
                          "; replaced activation(s) %s by ReLU" % ", ".join(acts) if acts else "")}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    if ignored:
        r["ignored_fields"] = ignored  # decode/training-only keys, not part of the timed network
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--size", type=int, default=0, help="network input (square); default: the cfg's width")
    ap.add_argument("--images", required=True, help="folder of images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peer", default="all", choices=["all", "opencv_net", "opencv_folder", "darknet_net"])
    ap.add_argument("--runs", type=int, default=50, help="timed network-only runs")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1, help="passes over the folder")
    ap.add_argument("--thresh", type=float, default=0.25)
    ap.add_argument("--nms", type=float, default=0.45)
    ap.add_argument("--names", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "../../../shared/data/yolo/coco.names"))
    ap.add_argument("--out", default=os.devnull, help="JSON lines of the folder run")
    ap.add_argument("--darknet-timeout", type=int, default=600)
    ap.add_argument("--darknet-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.darknet_child:
        darknet_child(a, a.cfg)
        return
    if not a.size:
        m = re.search(r"^\s*width\s*=\s*(\d+)", open(a.cfg).read(), re.M)
        a.size = int(m.group(1)) if m else 416
    images = list_images(a.images)
    if not images:
        sys.exit("error: no images in %s" % a.images)
    with tempfile.TemporaryDirectory(prefix="detect_peers_") as tmp:
        cfg = sized_cfg(a.cfg, a.size, tmp)
        res = {"cfg": a.cfg, "weights": a.weights, "size": a.size, "threads": a.threads,
               "images": len(images), "opencv": cv2.__version__}
        peers = ["opencv_net", "opencv_folder", "darknet_net"] if a.peer == "all" else [a.peer]
        for peer in peers:
            try:
                if peer == "opencv_net":
                    res[peer] = peer_opencv_net(a, cfg, images)
                elif peer == "opencv_folder":
                    res[peer] = peer_opencv_folder(a, cfg, images)
                else:
                    res[peer] = peer_darknet_net(a, cfg)
            except cv2.error as e:
                res[peer] = {"error": "OpenCV: %s" % str(e).strip().splitlines()[-1]}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
