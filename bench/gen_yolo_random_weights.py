"""gen_yolo_random_weights.py - random darknet .weights for timing a YOLO cfg at its native size.

    /usr/bin/python3 bench/gen_yolo_random_weights.py --cfg ../shared/data/yolo/cfg/yolov4-tiny.cfg \
        [--out /tmp/iris-yolo/yolov4-tiny.weights] [--seed 1] [--obj-bias -2.25 | none]

The bytes follow the spec in tests/ref/yolo_random.py (the same as the C test helper
tests/yolo_random.c, seed 1 = the test fixtures' seed), with one change for timing:
the objectness biases of the convs feeding each [yolo] are set to --obj-bias (default -2.25).
Plain random weights give tens of thousands of boxes above 0.25 per image (yolov4-tiny at
416: 53,000), so a whole-folder run would time NMS and JSON writing of noise. For yolov4-tiny
at 416 on the 12 shared photos, -2.25 gives 119 boxes (about 10 per image, like a real model),
-2 gives 973 and -3 none. The right value depends on the cfg: check the "detections" count
that detect_peers.py's opencv_folder reports. `--obj-bias none` writes the exact test-spec bytes. The file is 1-260 MB; it must go outside the repository.
"""
import struct
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
import yolo_random as yr  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--out", help="default /tmp/iris-yolo/<cfg name>.weights")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--obj-bias", default="-2.25", help="objectness bias of the yolo head convs, or 'none'")
    a = ap.parse_args()
    out = a.out or os.path.join("/tmp/iris-yolo", os.path.splitext(os.path.basename(a.cfg))[0] + ".weights")
    repo = os.path.realpath(os.path.join(HERE, ".."))
    if os.path.realpath(out).startswith(repo + os.sep):
        sys.exit("error: %s is inside the repository; write weights elsewhere" % out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    secs = yr.parse_cfg(open(a.cfg).read())
    data = bytearray(yr.weights_bytes(secs, a.seed))
    heads = 0
    if a.obj_bias != "none":
        b = float(a.obj_bias)
        layers = secs[1:]
        for cv, off in yr.conv_offsets(secs):
            nxt = layers[cv["layer"] + 1] if cv["layer"] + 1 < len(layers) else None
            if not nxt or nxt[0] != "yolo":
                continue
            per = 5 + int(nxt[1]["classes"])
            for a_i in range(cv["n"] // per):
                struct.pack_into("<f", data, off + 4 * (a_i * per + 4), b)
            heads += 1
    with open(out, "wb") as f:
        f.write(data)
    w, h, _ = yr.net_size(secs)
    print("%s: %d bytes (cfg %dx%d, seed %d, objectness bias %s in %d heads)"
          % (out, len(data), w, h, a.seed, a.obj_bias, heads))


if __name__ == "__main__":
    main()
