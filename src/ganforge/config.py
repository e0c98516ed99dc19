"""OmegaConf resolvers used by the configs; importing this module registers them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from ganforge.schema import AtLeast, check_tree, check_value

# The ISA flags that mean bf16 arithmetic in hardware: x86 AVX512-BF16 or AMX, Arm's BF16 extension.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_isa_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The CPU's instruction-set flags as the kernel reports them (x86 ``flags``, Arm ``Features``);
    None where there is no such file (macOS, Windows)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU; without it bf16 is emulated and slower than fp32.

    PyTorch's own answer (``_is_mkldnn_bf16_supported``) is yes on every AVX512 CPU, emulated or not,
    and a virtual machine may hide AMX and AVX512-BF16 from a CPU that has them, so the kernel's ISA
    flags decide where it lists them."""
    import torch

    try:
        supported = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or an older PyTorch
        return False
    flags = cpu_isa_flags()
    return supported and (flags is None or bool(flags & NATIVE_BF16_FLAGS))


def precision_choice(accelerator: str = "auto") -> tuple[str, str]:
    """The automatic ``trainer.precision`` for ``accelerator`` and why: bf16 mixed precision on
    CUDA GPUs and CPUs that run bf16 natively, fp32 everywhere else."""
    import torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", f"the GPU ({torch.cuda.get_device_name()}) supports bf16"
        return "32-true", f"the GPU ({torch.cuda.get_device_name()}) has no bf16"
    if accelerator in ("auto", "cpu"):
        if cpu_has_native_bf16():
            return "bf16-mixed", "the CPU runs bf16 natively (oneDNN: AVX512-BF16 or AMX)"
        return "32-true", "the CPU has no native bf16 (no AVX512-BF16, AMX or Arm BF16: oneDNN would emulate it)"
    return "32-true", f"accelerator={accelerator}"


def auto_precision(accelerator: str = "auto") -> str:
    """The resolver behind ``trainer.precision: ${auto_precision:...}`` (see ``precision_choice``)."""
    return precision_choice(accelerator)[0]


def sweep_group() -> str | None:
    """The W&B group of a ``-m`` job: ``<task>-<sweep directory name>``; None for a single run."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    config = HydraConfig.get()
    return f"{config.job.name}-{Path(config.sweep.dir).name}"


def sqlite_url(path: str) -> str:
    """``sqlite:///<absolute path>`` with the parent folder created (SQLite does not create it)."""
    from pathlib import Path

    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def launch_dir() -> str:
    """The directory train.py was started in (jobs do not chdir). Unlike ``${hydra:runtime.cwd}`` it
    also resolves where a sweeper builds itself, before Hydra sets up any job (the sweep directory
    and the Optuna storage path are resolved there)."""
    import os

    return os.getcwd()


def run_label(model: str, data: str, experiment: str | None = None) -> str:
    """A run's name before its seed: the experiment's when one is chosen (``ring8_wgan_gp``), else
    ``<model>_<data>``."""
    return str(experiment) if experiment not in (None, "None", "null", "") else f"{model}_{data}"


# Folders under conf/ that are not groups a user chooses: the building blocks of a group's options
# (``*/base``) and W&B's own sweep files (read by ``wandb sweep``, not by Hydra).
NOT_CHOICES = ("wandb_sweeps",)


def is_choice_group(group: str) -> bool:
    return group.split("/")[0] != "hydra" and group not in NOT_CHOICES and group.split("/")[-1] != "base"


def help_groups() -> str:
    """The config groups ``--help`` lists, without those of ``is_choice_group``'s exceptions (Hydra's
    ``$APP_CONFIG_GROUPS`` lists every folder). Uses the Hydra instance that is printing the help."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().hydra.format_config_groups(is_choice_group)


def register_resolvers() -> None:
    resolvers = {"auto_precision": auto_precision, "sweep_group": sweep_group,
                 "sqlite_url": sqlite_url, "launch_dir": launch_dir, "run_label": run_label,
                 "help_groups": help_groups}
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


register_resolvers()


# ---- the type check of each entry point's top-level settings ---------------------------------
# Each top-level key's type hint, checked by ganforge.schema like every constructor's parameters.
_CKPT, _DEVICE, _SEED = str, str, int
_COUNT = Annotated[int, AtLeast(1)]
SCHEMAS: dict[str, dict[str, Any]] = {
    "train": {
        "seed": int | None, "g_iters": Annotated[int | None, AtLeast(1)], "checkpoint_every": _COUNT,
        "checkpoint_keep": Annotated[int | None, AtLeast(1)],
        "ckpt_path": str | None, "init_from": str | None, "objective": str | None, "objective_penalty": float,
        "auto_resume": bool, "nan_policy": Literal["stop", "warn"],
    },
    "eval": {"ckpt_path": str | None, "images": str | None, "against": str | None, "save_stats": str | None,
             "device": _DEVICE, "seed": _SEED,
             "precision": Literal["auto", "32-true", "bf16-mixed", "16-mixed"]},
    "sample": {
        "ckpt_path": _CKPT, "device": _DEVICE, "seed": _SEED, "out_dir": str | None,
        "grid_size": _COUNT, "grid_columns": _COUNT, "num_images": Annotated[int, AtLeast(0)],
        "batch_size": _COUNT, "interpolation.rows": Annotated[int, AtLeast(0)],
        "interpolation.steps": Annotated[int, AtLeast(2)],
    },
    "export": {"ckpt_path": _CKPT, "out": str, "push_to_hub": str | None, "seed": _SEED, "grid_size": _COUNT},
    "upscale": {
        "ckpt_path": _CKPT, "device": _DEVICE, "input": str | None, "output": str | None,
        "tile": Annotated[int, AtLeast(16)], "tile_overlap": Annotated[int, AtLeast(0)],
    },
}


# Trainer arguments the loop owns (it counts generator iterations and steps its optimizers itself):
# the value Lightning must keep, and what to set instead.
LOOP_OWNED_TRAINER_ARGS = {
    "max_steps": (-1, "counts every optimizer step (critic and generator); the run's length is g_iters=<N> "
                      "generator iterations"),
    "min_steps": (None, "counts every optimizer step; the run's length is g_iters=<N> generator iterations"),
    "accumulate_grad_batches": (1, "does not apply: the loop steps its optimizers itself (manual optimization)"),
    "gradient_clip_val": (None, "does not apply: the loop steps its optimizers itself (manual optimization)"),
}
# Top-level keys of train.yaml besides its schema, and its config groups.
TRAIN_KEYS = frozenset({"task_name", "run_name", "callbacks", "data", "model", "trainer", "logger", "metrics",
                        "paths", "hydra", "experiment", "hparams_search", "launcher", "debug"})


def added_top_level_keys() -> list[str]:
    """Top-level keys the command line added with ``+key=...`` or ``++key=...``."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    added = []
    for override in HydraConfig.get().overrides.task:
        key = override.split("=", 1)[0]
        if key.startswith("+") and "." not in key.lstrip("+") and "/" not in key and "@" not in key:
            added.append(key.lstrip("+"))
    return added


def check_train_keys(cfg: DictConfig) -> None:
    """Refuse what ``train.py`` would otherwise accept and ignore: a top-level key it does not know
    (``+g_iter=10``), and a Trainer argument that the loop owns (``trainer.max_steps=40``)."""
    import difflib

    from ganforge.errors import GanforgeError

    known = TRAIN_KEYS | set(SCHEMAS["train"])
    for key in added_top_level_keys():
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {near[0]}?" if near else f"; the top-level keys are {', '.join(sorted(known))}"
            raise GanforgeError(f"+{key}: train.py has no top-level setting {key!r}, so it would be ignored{hint}")
    trainer = cfg.get("trainer") or {}
    for key, (keep, why) in LOOP_OWNED_TRAINER_ARGS.items():
        value = trainer.get(key, keep)
        if value != keep and not (keep is None and value in (0, 0.0)):
            raise GanforgeError(f"trainer.{key}={value} {why}")


def check_settings(cfg: DictConfig, task: str) -> None:
    """Refuse a top-level value of the wrong type or range, naming the key (before any work)."""
    from ganforge.errors import GanforgeError

    if task == "train":
        check_train_keys(cfg)

    absent = object()
    for key, hint in SCHEMAS[task].items():
        try:
            value = OmegaConf.select(cfg, key, default=absent, throw_on_missing=True)
        except MissingMandatoryValue:
            raise GanforgeError(f"{key} is required: add {key}=<value> to the command line") from None
        if value is absent:  # a library caller's partial config: what is there is checked
            continue
        check_value(key, value, hint)
    for key in cfg:  # every group: each node with a _target_ against its constructor's signature
        if key != "hydra" and key not in SCHEMAS[task]:
            check_tree(cfg[key], str(key))
