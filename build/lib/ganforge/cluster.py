"""Cluster plumbing built from configs (``launcher=slurm``)."""

from __future__ import annotations

import signal

from lightning.pytorch.plugins.environments import SLURMEnvironment

from ganforge.errors import SettingError


def slurm_environment(requeue_signal: str = "SIGUSR2", auto_requeue: bool = True) -> SLURMEnvironment:
    """Lightning's SLURM environment, listening for ``requeue_signal``: submitit's sbatch asks
    SLURM for USR2 ``signal_delay_s`` before the time limit, and on it Lightning saves
    ``hpc_ckpt_<n>.ckpt`` in the run directory and requeues the job; the restarted job runs in the
    same directory and resumes from the newest checkpoint (``resume.resume_checkpoint``). A name,
    not a ``signal.Signals``, so the YAML stays plain."""
    try:
        chosen = signal.Signals[requeue_signal]
    except KeyError:
        raise SettingError(f"requeue_signal must be a signal name such as SIGUSR1 or SIGUSR2, got {requeue_signal!r}"
                         ) from None
    return SLURMEnvironment(auto_requeue=auto_requeue, requeue_signal=chosen)
