#!/usr/bin/env python3
"""bench_detect.py - detect against OpenCV DNN (and darknet) in the same run.

For each model: the network alone (iris bin/bench_yolo at batch 1 and 4; OpenCV's forward of one
blob; darknet's network_predict) and the whole folder run (decode -> letterbox -> network -> boxes
-> JSON line; iris bin/detect, OpenCV in Python), images per second, 2 threads.

    /usr/bin/python3 bench/bench_detect.py [--threads 2] [--repeat 8] [--models fastest,fastest-xl,yolov4-tiny]

yolov4-tiny uses random weights written by bench/gen_yolo_random_weights.py (outside the repo).
Prints a Markdown table for docs/BENCHMARKS.md.
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "data")
PY = "/usr/bin/python3"


def models(sel):
    y = os.path.join(DATA, "yolo")
    m = {
        "fastest": ("Yolo-Fastest 1.1", os.path.join(y, "yolo-fastest-1.1.cfg"), os.path.join(y, "yolo-fastest-1.1.weights")),
        "fastest-xl": ("Yolo-Fastest 1.1-xl", os.path.join(y, "yolo-fastest-1.1-xl.cfg"), os.path.join(y, "yolo-fastest-1.1-xl.weights")),
        "yolov4-tiny": ("YOLOv4-tiny (random weights)", os.path.join(y, "cfg", "yolov4-tiny.cfg"), "/tmp/iris-yolo/yolov4-tiny.weights"),
    }
    return [(k,) + m[k] for k in sel]


def iris_net(cfg, weights, threads, batch, iters):
    out = subprocess.run([os.path.join(ROOT, "bin", "bench_yolo"), cfg, weights, "--threads", str(threads),
                          "--batch", str(batch), "--iters", str(iters)], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"img_per_s=([0-9.]+)", out).group(1))


def iris_folder(cfg, weights, folder, threads, batch, n_images):
    out = tempfile.mkdtemp(prefix="iris-detect-")
    try:
        t0 = time.perf_counter()
        subprocess.run([os.path.join(ROOT, "bin", "detect"), folder, "-o", out, "--cfg", cfg, "--weights", weights,
                        "--names", os.path.join(DATA, "yolo", "coco.names"), "-t", str(threads), "-b", str(batch), "-q"],
                       check=True)
        dt = time.perf_counter() - t0
        with open(os.path.join(out, "detections.jsonl")) as f:
            n = sum(1 for _ in f)
        assert n == n_images, (n, n_images)
        return n / dt
    finally:
        shutil.rmtree(out)


def peers(cfg, weights, folder, threads, repeat):
    out = subprocess.run([PY, os.path.join(ROOT, "bench", "detect_peers", "detect_peers.py"), "--cfg", cfg, "--weights", weights,
                          "--images", folder, "--threads", str(threads), "--repeat", str(repeat), "--runs", "100"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=8, help="copies of the 12 photos in the folder run")
    ap.add_argument("--models", default="fastest,fastest-xl,yolov4-tiny")
    a = ap.parse_args()
    sel = a.models.split(",")
    if "yolov4-tiny" in sel and not os.path.exists("/tmp/iris-yolo/yolov4-tiny.weights"):
        subprocess.run([PY, os.path.join(ROOT, "bench", "gen_yolo_random_weights.py"), "--cfg",
                        os.path.join(DATA, "yolo", "cfg", "yolov4-tiny.cfg")], check=True)
    # the folder: the 12 shared photos `repeat` times (distinct paths, so nothing is cached by name)
    folder = tempfile.mkdtemp(prefix="iris-photos-")
    src = os.path.join(DATA, "images")
    photos = sorted(f for f in os.listdir(src) if f.endswith(".jpg"))
    for r in range(a.repeat):
        for f in photos:
            shutil.copy(os.path.join(src, f), os.path.join(folder, "%d_%s" % (r, f)))
    n_images = len(photos) * a.repeat
    rows = []
    try:
        for key, name, cfg, weights in models(sel):
            p = peers(cfg, weights, folder, a.threads, 1)
            r = {
                "model": name,
                "iris_net_b1": iris_net(cfg, weights, a.threads, 1, 100),
                "iris_net_b4": iris_net(cfg, weights, a.threads, 4, 40),
                "iris_folder": max(iris_folder(cfg, weights, folder, a.threads, 4, n_images) for _ in range(2)),
                "opencv_net": p.get("opencv_net", {}).get("img_per_s"),
                "opencv_folder": p.get("opencv_folder", {}).get("img_per_s"),
                "darknet_net": p.get("darknet_net", {}).get("img_per_s"),
            }
            print(json.dumps(r), flush=True)
            rows.append(r)
    finally:
        shutil.rmtree(folder)
    f = lambda v: "-" if v is None else "%.1f" % v
    print("\n| model | iris net b1 | iris net b4 | OpenCV net | ratio | darknet net | iris folder | OpenCV folder | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        best = max(r["iris_net_b1"], r["iris_net_b4"])
        rn = best / r["opencv_net"] if r["opencv_net"] else None
        rf = r["iris_folder"] / r["opencv_folder"] if r["opencv_folder"] else None
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (r["model"], f(r["iris_net_b1"]), f(r["iris_net_b4"]),
              f(r["opencv_net"]), "-" if rn is None else "%.2fx" % rn, f(r["darknet_net"]), f(r["iris_folder"]),
              f(r["opencv_folder"]), "-" if rf is None else "%.2fx" % rf))


if __name__ == "__main__":
    main()
