"""A refactor's check that nothing changed: every composed config and the weights of short trainings.

    cd <tree> && PYTHONPATH=src python <this file> snapshot before.json    # on the tree before the change
    cd <tree> && PYTHONPATH=src python <this file> snapshot after.json     # and after it
    python bench/same_behaviour.py compare before.json after.json [--rename old=new ...] [--drop key ...]

``snapshot`` composes ``train`` for every option of the model, data and experiment groups (one
option at a time, the rest default) and trains dcgan, wgan_gp, cgan, progan through a fade and
srgan (pixel loss, after SRResNet pretraining) for a few dozen iterations on fixed synthetic
data, then records each weight tensor's SHA-256. It runs on the tree in the current directory
(its ``conf/`` and ``tests/conftest.py``), so the same file checks an older checkout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

TREE = Path.cwd()
WORK = Path("/tmp/ganforge-same-behaviour")  # fixed, so paths inside the configs compare equal

TINY_DCGAN = ["model.generator.base_width=8", "model.discriminator.base_width=8"]
COMMON = ["trainer=cpu", "trainer.precision=bf16-mixed", "logger=none", "checkpoint_every=1000",
          "callbacks.progress_bar=null", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
          "++callbacks.evaluation=null", "++callbacks.samples.every_n_g_iters=1000", "seed=3"]
TRAININGS: dict[str, list[str]] = {
    "dcgan": ["model=dcgan", "g_iters=30", *TINY_DCGAN],
    "wgan_gp": ["model=wgan_gp", "g_iters=12", *TINY_DCGAN],
    "cgan": ["model=cgan", "g_iters=30", *TINY_DCGAN],
    "progan": ["model=progan", "g_iters=40", "model.z_dim=8", "model.generator.fmap_base=32",
               "model.generator.fmap_max=8", "model.discriminator.fmap_base=32", "model.discriminator.fmap_max=8",
               "model.fade_kimg=0.1", "model.stable_kimg=0.1", "data.batch_size=16",
               "model.batch_sizes={4: 16, 8: 16, 16: 8, 32: 8}"],
    "srgan": ["model=srgan", "g_iters=24", "model.pretrain_steps=8", "model.content_loss=pixel",
              "model.generator.num_blocks=2", "model.generator.width=8", "model.discriminator.width=8",
              "model.discriminator.dense=16", "data.crop=32", "data.batch_size=4", "data.num_workers=0",
              "data.val_images=2", "data.val_crop=32", "data.crops_per_epoch=16",
              "callbacks.sr_validation.every_n_g_iters=1000", "callbacks.sr_validation.lpips=false"],
}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (TREE / "conf" / group).glob("*.yaml"))


def snapshot(out: Path) -> None:
    sys.path.insert(0, str(TREE / "tests"))
    import torch
    import yaml
    from conftest import compose_cfg, data_overrides, make_idx_set  # the tree's own test helpers
    from omegaconf import OmegaConf
    from test_sr import make_photos

    from ganforge.train import run

    shutil.rmtree(WORK, ignore_errors=True)
    configs = {}
    for group in ("model", "data", "experiment"):
        for name in options(group):
            cfg = compose_cfg(WORK / "compose", [f"{group}={name}"])
            # key order is where a file lists a key, not what the config is
            configs[f"{group}={name}"] = yaml.safe_dump(OmegaConf.to_container(cfg), sort_keys=True)
    data = WORK / "data"
    make_idx_set(data / "MNIST" / "raw", n=256)
    photos = make_photos(WORK / "photos")
    weights = {}
    for name, overrides in TRAININGS.items():
        data_args = ["data=sr_folder", f"data.root={photos}"] if name == "srgan" else data_overrides("mnist", data)
        cfg = compose_cfg(WORK / name, [*data_args, *COMMON, *overrides])
        run(cfg)
        ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
        weights[name] = {k: hashlib.sha256(v.contiguous().view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
                         for k, v in ckpt["state_dict"].items()}
        weights[name]["counters"] = json.dumps(ckpt.get("counters"), sort_keys=True)
    out.write_text(json.dumps({"configs": configs, "weights": weights}, indent=1, sort_keys=True) + "\n")
    print(f"{len(configs)} configs, {len(weights)} trainings -> {out}")


def model_keys(dump: str) -> set[str]:
    return {line.strip().split(":", 1)[0] for line in dump.splitlines() if line.startswith("  ")
            and not line.startswith("   ")}


def expected(old: str, new: str, renames: dict[str, str], drops: set[str]) -> str:
    """An old dump with the intended changes applied: model keys renamed, and the named keys
    dropped from configs that no longer have them."""
    drops = drops - model_keys(new)
    lines = []
    for line in old.splitlines(True):
        name = line.strip().split(":", 1)[0]
        if line.startswith("  ") and not line.startswith("   ") and name in drops:
            continue
        if line.startswith("  ") and not line.startswith("   ") and name in renames:
            line = line.replace(name, renames[name], 1)
        lines.append(line)
    return "".join(lines)


def compare(before: Path, after: Path, renames: dict[str, str], drops: set[str]) -> int:
    import difflib

    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    problems = 0
    for key in sorted(set(a["configs"]) | set(b["configs"])):
        new = b["configs"].get(key, "")
        old = expected(a["configs"].get(key, ""), new, renames, drops)
        if old != new:
            problems += 1
            print(f"config {key} differs:")
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), n=1))
    for run in sorted(set(a["weights"]) | set(b["weights"])):
        old, new = dict(a["weights"].get(run, {})), dict(b["weights"].get(run, {}))
        counters_old, counters_new = json.loads(old.pop("counters", "{}")), json.loads(new.pop("counters", "{}"))
        added = sorted(set(counters_new) - set(counters_old))
        if added:
            print(f"training {run}: counters added in the checkpoint: {', '.join(added)}")
        old["counters"] = json.dumps({k: counters_old.get(k) for k in counters_old}, sort_keys=True)
        new["counters"] = json.dumps({k: counters_new.get(k) for k in counters_old}, sort_keys=True)
        differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if differ:
            problems += 1
            print(f"training {run}: {len(differ)} entries differ: {', '.join(differ[:8])}")
        else:
            print(f"training {run}: {len(new)} entries identical")
    print("identical" if not problems else f"{problems} differences")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("snapshot").add_argument("out", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    cmp.add_argument("--rename", nargs="*", default=[], metavar="OLD=NEW", help="model keys renamed on purpose")
    cmp.add_argument("--drop", nargs="*", default=[], metavar="KEY", help="model keys removed on purpose")
    args = parser.parse_args()
    if args.command == "snapshot":
        snapshot(args.out.resolve())
    else:
        renames = dict(item.split("=", 1) for item in args.rename)
        sys.exit(compare(args.before, args.after, renames, set(args.drop)))


if __name__ == "__main__":
    main()
