#!/bin/sh
# setup_peers.sh - build/install the SD benchmark's peers and data once, outside the repo and CI.
#   sh bench/sd_peers/setup_peers.sh        (about 15 min on 2 busy cores; every step is skipped when done)
# /work/benchdata/ gets: sd15_random.safetensors, venv/ (system site packages + stable-diffusion-cpp-python
# built from source with -march=native, openvino, onnx), onnx/ (UNet + VAE decoder exports).
set -e
D=${IRIS_BENCHDATA:-/work/benchdata}
B=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$D"
[ -f "$D/sd15_random.safetensors" ] || nice -n 15 /usr/bin/python3 "$B/gen_sd15_random.py" -o "$D/sd15_random.safetensors"
[ -x "$D/venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$D/venv"
if ! "$D/venv/bin/python" -c "import stable_diffusion_cpp" 2>/dev/null; then
    "$D/venv/bin/pip" install scikit-build-core
    # CPU build; GGML_NATIVE gives -march=native (AVX-512 here); no WebP/WebM image I/O needed
    CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=ON -DSD_WEBP=OFF -DSD_WEBM=OFF" \
        nice -n 15 "$D/venv/bin/pip" install --no-build-isolation stable-diffusion-cpp-python==0.4.7
fi
"$D/venv/bin/python" -c "import openvino, onnx" 2>/dev/null || nice -n 15 "$D/venv/bin/pip" install openvino==2026.4.1 onnx==1.23.2
cd "$B/sd_peers"
[ -f "$D/onnx/unet/unet.onnx" ] || nice -n 15 "$D/venv/bin/python" export_onnx.py --ckpt "$D/sd15_random.safetensors" --out "$D/onnx"
echo "peers ready in $D; check the checkpoint with: nice -n 15 /usr/bin/python3 $B/sd_peers/check_ckpt.py"
