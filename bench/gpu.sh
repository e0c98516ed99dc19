#!/usr/bin/env bash
# The prepared GPU check, for the day a GPU is lent: one script, under 8 minutes on one H100/H200.
#   bash bench/gpu.sh [OUT_DIR]            # on the GPU machine, from the repository root
#   bash bench/gpu.sh --dry-run [OUT_DIR]  # tiny sizes on the CPU (a test runs this)
# 1. bench/speed.py --device cuda: DCGAN 64 px and the Lucic nets 28 px at batch 128 and 512,
#    train.py against the plain PyTorch loop;
# 2. bench/fid_speed.py on 10,000 images against torch-fidelity;
# 3. a 2,000-iteration bf16 wgan_gp run that must stay finite.
# Writes OUT_DIR/gpu.json (all results) beside each step's own JSON and log. Without Fashion-MNIST
# or the FID weights on the machine (no network there) the steps use random images and seeded
# random weights: the speeds are the same, the FID values are then meaningless and marked so.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
out="${1:-${OUT:-outputs/gpu_check}}"
mkdir -p "$out"
py="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=disabled PYTHONUNBUFFERED=1
data_dir="${GANFORGE_DATA_DIR:-$PWD/data}"
have_data=0; [ -d "$data_dir/FashionMNIST/raw" ] && have_data=1
have_weights=0; "$py" -c "import pathlib, torch, sys; sys.exit(0 if (pathlib.Path(torch.hub.get_dir()) / 'checkpoints' / 'weights-inception-2015-12-05-6726825d.pth').is_file() else 1)" && have_weights=1
start=$(date +%s)

if [ "$dry" = 1 ]; then
  speed_args=(--dry-run); fid_args=(--dry-run --device cpu); train_device=(trainer=cpu); g_iters=3
else
  speed_args=(--device cuda --rounds 1 --iters 200 --short 50 --long 300)  # 4 rows x 6 processes: the bulk of the 8 minutes
  fid_args=(--device cuda --num 10000 --num-real 10000)
  train_device=(trainer=gpu trainer.precision=bf16-mixed); g_iters=2000
  [ "$have_data" = 1 ] || { speed_args+=(--synthetic); fid_args+=(--synthetic); }
  [ "$have_weights" = 1 ] || fid_args+=(--random-weights)
fi

echo "== 1/3 speed.py ${speed_args[*]}"
"$py" bench/speed.py "${speed_args[@]}" --out "$out/speed.json" 2>&1 | tee "$out/speed.log"
echo "== 2/3 fid_speed.py ${fid_args[*]}"
"$py" bench/fid_speed.py "${fid_args[@]}" --out "$out/fid_speed.json" 2>&1 | tee "$out/fid_speed.log"

echo "== 3/3 train.py model=wgan_gp, $g_iters generator iterations"
run_dir="$out/wgan_gp_run"
train_data=(data=fashion_mnist)
if [ "$dry" = 1 ] || [ "$have_data" = 0 ]; then
  "$py" - "$out/images" <<'PY'
import sys, pathlib, numpy as np
from PIL import Image
folder = pathlib.Path(sys.argv[1]); folder.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
for i in range(128):
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"{i:04d}.png")
PY
  train_data=(data=image_folder "data.root=$out/images" data.channels=1 data.resolution=32 "paths.cache_dir=$out/cache")
fi
[ "$dry" = 1 ] && train_data+=(data.batch_size=8 model.generator.base_width=8 model.discriminator.base_width=8)
"$py" train.py model=wgan_gp "${train_data[@]}" "${train_device[@]}" g_iters=$g_iters logger=csv \
  callbacks.evaluation=null "hydra.run.dir=$run_dir" 2>&1 | tail -n 20 | tee "$out/wgan_gp.log"

"$py" - "$out" "$run_dir" "$start" "$dry" "$have_data" "$have_weights" <<'PY'
import csv, json, math, pathlib, sys, time
out, run_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
start, dry, have_data, have_weights = int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1", sys.argv[6] == "1"
summary = json.loads((run_dir / "summary.json").read_text())
losses = []
for path in run_dir.glob("csv/**/metrics.csv"):
    with open(path) as f:
        for row in csv.DictReader(f):
            losses += [float(v) for k, v in row.items() if k.startswith("train/loss") and v not in ("", None)]
finite = bool(losses) and all(math.isfinite(v) for v in losses)
result = {
    "dry_run": dry, "real_data": have_data, "real_fid_weights": have_weights,
    "speed": json.loads((out / "speed.json").read_text()),
    "fid_speed": json.loads((out / "fid_speed.json").read_text()),
    "wgan_gp_bf16": {"status": summary.get("status"), "losses_logged": len(losses), "all_finite": finite,
                     "metrics": summary.get("metrics")},
    "wall_s": time.time() - start,
}
(out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
print(f"wgan_gp: status {result['wgan_gp_bf16']['status']}, {len(losses)} losses logged, all finite: {finite}")
print(f"all results in {out / 'gpu.json'} ({result['wall_s']:.0f} s)")
sys.exit(0 if finite and summary.get("status") == "finished" else 1)
PY
