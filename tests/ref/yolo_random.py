"""yolo_random.py - deterministic random darknet .weights for a YOLO .cfg, and a random input.

The same bytes are built in C by tests/yolo_random.c, so tests need no weights file.

Spec (keep in step with tests/yolo_random.c):
  PRNG splitmix64, state = seed; each draw:
      state += 0x9E3779B97F4A7C15; z = state
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
      z = (z ^ (z >> 27)) * 0x94D049BB133111EB
      z ^= z >> 31
      u = ((z >> 40) + 0.5) / 2^24 * 2 - 1        (double, in (-1, 1))
  Every value below is computed in double and rounded once to float32.
  .weights = int32 major 0, minor 2, revision 5, uint64 seen 0, then for each
  [convolutional] in cfg order (n = filters, c = input channels, g = groups,
  k = size, fan_in = c/g*k*k), all draws from one stream seeded with `seed`:
      batch_normalize=1: biases[n] = 0.1u, scales[n] = 1 + 0.2u,
                         rolling_mean[n] = 0.1u, rolling_var[n] = 1 + 0.5u
      otherwise:         biases[n] = 0.1u
      then weights[n][c/g][k][k] = u * gain * sqrt(A/fan_in), where
          A = 6 (He-uniform) when the conv's activation is not linear, A = 3 when it is
          linear (variance-preserving for a linear map), and
          gain = 0.2 when the conv is the last layer before a [shortcut] (not counting
          [dropout] layers), i.e. the end of a residual branch, else gain = 1.
      sqrt and the two products in double, in that order: (u * (gain * sqrt(A / fan_in))).
  Input: NCHW float32 [1, 3, H, W], x = (u + 1) * 0.5 from a second stream
  seeded with seed + 1.

Why A and gain: with plain He-uniform everywhere the residual nets blow up (yolov3's
head convs reached std 5e4, yolo-fastest's 5e5: exp() of the box sizes overflows).
With this rule every layer of the six target cfgs stays at std 0.05..2.5 and the raw
head convs at std 0.4..2.3 (|max| < 10) for the fixture input (seed 1).

No layer kind in the target cfgs other than [convolutional] carries weights
(no [connected], no [shortcut] with weights_type); walk() refuses those.
"""
import math
import re

import numpy as np

GAMMA = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
MASK = (1 << 64) - 1
RESIDUAL_GAIN = 0.2


class Stream:
    """splitmix64; the i-th draw's state is seed + i*GAMMA, so a block is vectorised."""

    def __init__(self, seed):
        self.seed = seed & MASK
        self.count = 0

    def uniform(self, n):
        i = np.arange(self.count + 1, self.count + 1 + n, dtype=np.uint64)
        self.count += n
        with np.errstate(over="ignore"):
            z = i * np.uint64(GAMMA) + np.uint64(self.seed)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(M1)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(M2)
            z ^= z >> np.uint64(31)
        return ((z >> np.uint64(40)).astype(np.float64) + 0.5) / 16777216.0 * 2.0 - 1.0


def parse_cfg(text):
    """[(type, {key: value}, line)] in file order; darknet's comment rules, first key wins."""
    secs = []
    for ln, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            secs.append((line.strip("[]").strip(), {}, ln))
            continue
        k, v = line.split("=", 1)
        secs[-1][1].setdefault(k.strip(), v.strip())
    return secs


def net_size(secs):
    net = secs[0][1]
    return int(net.get("width", 416)), int(net.get("height", 416)), int(net.get("channels", 3))


def with_size(text, width, height):
    """The cfg text with [net] width/height replaced (the rest byte-identical)."""
    out, in_net = [], False
    for raw in text.splitlines(keepends=True):
        s = raw.strip()
        if s.startswith("["):
            in_net = s == "[net]"
        elif in_net and re.match(r"\s*width\s*=", raw):
            raw = "width=%d\n" % width
        elif in_net and re.match(r"\s*height\s*=", raw):
            raw = "height=%d\n" % height
        out.append(raw)
    return "".join(out)


def _ints(v):
    return [int(x) for x in v.split(",") if x.strip()]


def walk(secs):
    """Darknet's shape rules. Returns the output (c, h, w) of every layer (index 0 is
    the first section after [net]) and one dict per conv: layer, n, c, groups, k, bn,
    linear (activation), residual (last layer before a [shortcut], skipping [dropout])."""
    w, h, c = net_size(secs)
    layers = secs[1:]
    shapes, convs = [], []
    cur = (c, h, w)
    for li, (t, d, ln) in enumerate(layers):
        if t == "convolutional":
            n, k = int(d.get("filters", 1)), int(d.get("size", 1))
            s, g = int(d.get("stride", 1)), int(d.get("groups", 1))
            pad = k // 2 if int(d.get("pad", 0)) else int(d.get("padding", 0))
            assert cur[0] % g == 0, "line %d: channels %d not divisible by groups %d" % (ln, cur[0], g)
            convs.append(dict(layer=li, n=n, c=cur[0], groups=g, k=k, bn=int(d.get("batch_normalize", 0)),
                              linear=d.get("activation", "logistic") == "linear", residual=False))
            cur = (n, (cur[1] + 2 * pad - k) // s + 1, (cur[2] + 2 * pad - k) // s + 1)
        elif t == "maxpool":
            s = int(d.get("stride", 1))
            k = int(d.get("size", s))
            pad = int(d.get("padding", k - 1))
            cur = (cur[0], (cur[1] + pad - k) // s + 1, (cur[2] + pad - k) // s + 1)
        elif t == "avgpool":
            cur = (cur[0], 1, 1)
        elif t == "upsample":
            s = int(d.get("stride", 2))
            cur = (cur[0], cur[1] * s, cur[2] * s)
        elif t == "route":
            src = [shapes[x + li if x < 0 else x] for x in _ints(d["layers"])]
            assert all(x[1:] == src[0][1:] for x in src), "line %d: route sizes differ" % ln
            cur = (sum(x[0] for x in src) // int(d.get("groups", 1)), src[0][1], src[0][2])
        elif t == "shortcut":
            assert d.get("weights_type", "none") == "none", "line %d: weighted shortcut" % ln
            assert len(_ints(d["from"])) == 1, "line %d: multi-input shortcut" % ln
            j = li - 1
            while layers[j][0] == "dropout":
                j -= 1
            for cv in convs:
                if cv["layer"] == j:
                    cv["residual"] = True
        elif t not in ("yolo", "dropout"):
            raise ValueError("line %d: layer [%s] not handled" % (ln, t))
        shapes.append(cur)
    return shapes, convs


def weights_bytes(secs, seed):
    """The whole .weights file as bytes."""
    rng = Stream(seed)
    parts = [np.array([0, 2, 5], "<i4").tobytes(), np.array([0], "<u8").tobytes()]
    for cv in walk(secs)[1]:
        n = cv["n"]
        fan_in = cv["c"] // cv["groups"] * cv["k"] * cv["k"]
        if cv["bn"]:
            vals = [0.1 * rng.uniform(n), 1.0 + 0.2 * rng.uniform(n), 0.1 * rng.uniform(n),
                    1.0 + 0.5 * rng.uniform(n)]
        else:
            vals = [0.1 * rng.uniform(n)]
        scale = (RESIDUAL_GAIN if cv["residual"] else 1.0) * math.sqrt((3.0 if cv["linear"] else 6.0) / fan_in)
        vals.append(rng.uniform(n * fan_in) * scale)
        parts += [v.astype("<f4").tobytes() for v in vals]
    return b"".join(parts)


def input_tensor(seed, c, h, w):
    return ((Stream(seed + 1).uniform(c * h * w) + 1.0) * 0.5).astype(np.float32).reshape(1, c, h, w)


def conv_offsets(secs):
    """Byte offset in the .weights file of each conv's block (biases first), with the walk() dicts."""
    off, out = 20, []
    for cv in walk(secs)[1]:
        out.append((cv, off))
        off += 4 * cv["n"] * ((4 if cv["bn"] else 1) + cv["c"] // cv["groups"] * cv["k"] ** 2)
    return out
