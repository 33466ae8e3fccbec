#!/bin/sh
# detect over a photo folder on one machine, resumably: run it again after a
# crash, a reboot or Ctrl-C and it continues where it stopped. With PARTS=4
# it runs four detect processes side by side, each on its own part of the
# folder (--shard K/4) with its own output, and merges them at the end.
#
#   samples/detect_folder.sh ~/Pictures out            # -> out/all.jsonl
#   PARTS=4 samples/detect_folder.sh ~/Pictures out
set -eu

PHOTOS=${1:?usage: detect_folder.sh PHOTOS [OUTDIR]}
OUT=${2:-out}
PARTS=${PARTS:-1}
MODEL=${MODEL:-../shared/data/yolo/yolo-fastest-1.1}   # MODEL.cfg and MODEL.weights
NAMES=${NAMES:-../shared/data/yolo/coco.names}
DETECT=${DETECT:-bin/detect}
CORES=$(nproc 2>/dev/null || echo 2)
THREADS=$((CORES / PARTS > 0 ? CORES / PARTS : 1))

pids=
k=0
while [ "$k" -lt "$PARTS" ]; do
    "$DETECT" "$PHOTOS" -o "$OUT/shard-$k" --cfg "$MODEL.cfg" --weights "$MODEL.weights" --names "$NAMES" \
        --shard "$k/$PARTS" --threads "$THREADS" --resume -q &
    pids="$pids $!"
    k=$((k + 1))
done

# 0 all went well, 1 some photos could not be read (warned above), else a real failure
worst=0
for pid in $pids; do
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -gt "$worst" ]; then worst=$rc; fi
done
if [ "$worst" -gt 1 ]; then
    echo "detect_folder.sh: a part failed (exit $worst); run again to continue" >&2
    exit "$worst"
fi
cat "$OUT"/shard-*/detections.jsonl > "$OUT/all.jsonl"
echo "$(wc -l < "$OUT/all.jsonl") photos in $OUT/all.jsonl" >&2
exit "$worst"
