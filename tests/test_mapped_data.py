"""Image sets larger than ``data.max_memory_gb`` stream from the decode-once cache file: the same
batches as in memory, the same exact resume, bounded memory, a killed decode is rebuilt, and a
parallel decode of many chunks finishes (or stops with one line) instead of hanging."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY, TINY_NETS, compose_cfg, make_image_files

from ganforge.data.folders import ImageFolderImages, decoded_chunks
from ganforge.data.mapped import MappedImages, open_cache, sidecar_of
from ganforge.data.torchvision_sets import TorchvisionImages
from ganforge.errors import GanforgeError
from ganforge.train import run


def folder_set(root: Path, storage: str, **kwargs) -> ImageFolderImages:
    dm = ImageFolderImages(str(root / "imgs"), resolution=16, channels=3, batch_size=6, num_workers=1,
                           cache_dir=str(root / "cache"), storage=storage, **kwargs)
    dm.setup("fit")
    return dm


def batches(stream, count: int) -> list[torch.Tensor]:
    out = []
    while len(out) < count:
        for images, labels in stream:
            out.append(torch.cat([images.flatten(1).float(), labels.unsqueeze(1).float()], 1))
            if len(out) == count:
                break
    return out


def test_mapped_stream_gives_the_batches_of_the_in_memory_one_and_resumes_mid_epoch(tmp_path):
    make_image_files(tmp_path / "imgs", 40)
    memory, mapped = folder_set(tmp_path, "memory"), folder_set(tmp_path, "mapped")
    assert isinstance(mapped.samples, MappedImages) and isinstance(memory.samples, torch.Tensor)
    assert torch.equal(mapped.samples[torch.arange(40)], memory.samples)
    want = batches(memory.train_dataloader(), 15)  # two and a half epochs of 6 batches
    stream = mapped.train_dataloader()
    assert type(stream).__name__ == "PrefetchedBatches"
    got = batches(stream, 8)
    state = stream.state_dict()  # mid-epoch: a fresh stream continues from here
    again = folder_set(tmp_path, "mapped").train_dataloader()
    again.load_state_dict(state)
    got += batches(again, 7)
    assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))


def test_a_set_over_the_memory_budget_trains_from_the_file_and_resumes_exactly(tmp_path):
    make_image_files(tmp_path / "imgs", 48)
    budget = 48 * 3 * 32 * 32 / 4 / 2**30  # the decoded set is 4x the budget
    common = ["model=dcgan", *TINY_NETS["dcgan"], *TINY, "data=image_folder", f"data.root={tmp_path / 'imgs'}",
              "data.resolution=32", "data.batch_size=8", "data.num_workers=1", f"data.max_memory_gb={budget}",
              f"data.cache_dir={tmp_path / 'cache'}", "checkpoint_every=100"]

    def train(where: str, *extra: str):
        cfg = compose_cfg(tmp_path / where, [*common, *extra])
        run(cfg)
        return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)

    straight = train("straight", "g_iters=9")  # crosses an epoch boundary (6 batches per epoch)
    half = train("half", "g_iters=4")
    resumed = train("resumed", "g_iters=9", f"ckpt_path={tmp_path / 'half' / 'run' / 'checkpoints' / 'last.ckpt'}")
    assert half["counters"]["g_iters"] == 4 and resumed["counters"]["g_iters"] == 9
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key
    assert len(list((tmp_path / "cache").glob("*.u8"))) == 1  # decoded once, read by all three runs


def _rss_peak_kib() -> int:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def _reset_rss_peak() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    return _rss_peak_kib()


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc peak-RSS reset")
def test_memory_stays_within_the_budget_while_decoding_and_streaming(tmp_path):
    count = 160
    decoded_mib = count * 3 * 256 * 256 / 2**20  # 30 MiB decoded, 4x the budget
    budget_mib = decoded_mib / 4
    kwargs = dict(resolution=256, channels=3, batch_size=8, num_workers=1, max_memory_gb=budget_mib / 1024)
    make_image_files(tmp_path / "warm", 16)  # first decode and stream pay one-time costs (imports, kernels)
    warm = ImageFolderImages(str(tmp_path / "warm"), **kwargs, cache_dir=str(tmp_path / "warm_cache"),
                             storage="mapped")
    warm.setup("fit")
    for _ in warm.train_dataloader():
        pass
    make_image_files(tmp_path / "imgs", count)
    start = _reset_rss_peak()
    dm = ImageFolderImages(str(tmp_path / "imgs"), **kwargs, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    for _ in dm.train_dataloader():
        pass
    mapped_growth_mib = (_rss_peak_kib() - start) / 1024
    assert isinstance(dm.samples, MappedImages)
    assert mapped_growth_mib < budget_mib, (mapped_growth_mib, budget_mib)  # peak while decoding and streaming
    start = _reset_rss_peak()  # the same set in memory: the measurement does see it
    whole = ImageFolderImages(str(tmp_path / "imgs"), **{**kwargs, "max_memory_gb": 1},
                              cache_dir=str(tmp_path / "cache"))
    whole.setup("fit")
    assert isinstance(whole.samples, torch.Tensor)
    assert (_rss_peak_kib() - start) / 1024 > decoded_mib * 0.9


KILLED_DECODE = """
import sys, time
import ganforge.data.folders as folders
slow = folders.decode_image
def decode(*args):
    time.sleep(0.02)
    return slow(*args)
folders.decode_image = decode
folders.ImageFolderImages(sys.argv[1], resolution=32, channels=3, num_workers=1, cache_dir=sys.argv[2],
                          max_memory_gb=16 * 3 * 32 * 32 * 4 / 2**30).setup()
"""


def test_a_killed_decode_leaves_no_cache_that_is_trusted_and_is_rebuilt(tmp_path):
    make_image_files(tmp_path / "imgs", 200)
    cache = tmp_path / "cache"
    child = subprocess.Popen([sys.executable, "-c", KILLED_DECODE, str(tmp_path / "imgs"), str(cache)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not list(cache.glob(".*.tmp-*")) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    time.sleep(0.3)  # a few chunks written
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    leftovers = list(cache.glob(".*.tmp-*"))
    assert leftovers and leftovers[0].stat().st_size > 0, "the kill did not land mid-write"
    assert not list(cache.glob("*.json")) and not list(cache.glob("*.u8"))
    dm = ImageFolderImages(str(tmp_path / "imgs"), resolution=32, channels=3, num_workers=1,
                           cache_dir=str(cache), storage="mapped")
    dm.setup()
    (data_file,) = cache.glob("*.u8")
    assert not list(cache.glob(".*.tmp-*"))  # the dead write's temporary file is cleaned up
    fresh = ImageFolderImages(str(tmp_path / "imgs"), resolution=32, channels=3, num_workers=1)
    fresh.setup()
    assert torch.equal(dm.samples[torch.arange(200)], fresh.samples)
    # A data file without its sidecar (killed between the two renames) is not trusted either.
    sidecar_of(data_file).unlink()
    assert open_cache(data_file, "any key") is None


def test_a_torchvision_set_over_the_budget_streams_from_a_fitted_cache(tmp_path, fake_cifar):
    common = dict(name="cifar10", root=str(tmp_path), channels=3, batch_size=8, cache_dir=str(tmp_path / "cache"))
    mapped = TorchvisionImages(resolution=64, max_memory_gb=64 * 3 * 64 * 64 / 4 / 2**30, **common)
    mapped.setup("fit")
    assert isinstance(mapped.samples, MappedImages) and mapped.samples.shape == (64, 3, 64, 64)
    memory = TorchvisionImages(resolution=64, **common)
    memory.setup("fit")
    assert torch.equal(mapped.samples[torch.arange(64)], memory.samples)
    assert torch.equal(mapped.labels, memory.labels)


# A process that has already run torch's OpenMP pool (as train.py has, building and summarising the
# model) decodes a set of many chunks with two workers: a process pool forked from it deadlocked in
# the workers' first parallel torch op, so this ran forever before the fix.
PARALLEL_DECODE = """
import sys, torch
torch.randn(512, 512) @ torch.randn(512, 512)
torch.nn.functional.interpolate(torch.rand(8, 3, 128, 128), size=64, mode="bilinear", antialias=True)
import ganforge.data.folders as folders
dm = folders.ImageFolderImages(sys.argv[1], resolution=128, channels=3, num_workers=2, cache_dir=sys.argv[2],
                               max_memory_gb=float(sys.argv[3]))
dm.setup("fit")
print("decoded", type(dm.samples).__name__, len(dm.samples))
"""


def test_a_parallel_decode_of_many_chunks_under_a_small_budget_finishes(tmp_path):
    count = 300  # over the 256 files from which the worker pool is used
    make_image_files(tmp_path / "imgs", count, size=(160, 144))  # resized in the workers
    decoded_bytes = count * 3 * 128 * 128
    budget_gb = decoded_bytes / 6 / 2**30  # six times smaller than the decoded set: ~50 chunks
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    try:
        done = subprocess.run([sys.executable, "-c", PARALLEL_DECODE, str(tmp_path / "imgs"),
                               str(tmp_path / "cache"), repr(budget_gb)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the parallel decode hung (no result in {err.timeout} s)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"decoded MappedImages {count}" in done.stdout
    streamed = ImageFolderImages(str(tmp_path / "imgs"), resolution=128, channels=3, num_workers=2,
                                 cache_dir=str(tmp_path / "cache"), max_memory_gb=budget_gb)
    streamed.setup()  # the cache the child wrote, read back
    in_process = ImageFolderImages(str(tmp_path / "imgs"), resolution=128, channels=3, num_workers=1)
    in_process.setup()
    assert torch.equal(streamed.samples[torch.arange(count)], in_process.samples)


def test_a_decode_that_cannot_progress_stops_with_one_line_naming_the_file(tmp_path):
    files = make_image_files(tmp_path / "imgs", 299, size=(16, 16))
    stuck = tmp_path / "imgs" / "stuck.png"
    os.mkfifo(stuck)  # opening it for reading blocks until a writer comes: a read that never returns
    files.insert(100, stuck)
    start = time.monotonic()
    try:
        with pytest.raises(GanforgeError, match=r"no file finished decoding in 1 s \(waiting on .*stuck\.png"):
            for _ in decoded_chunks(files, [0] * len(files), 16, 3, None, 2, "decoding imgs", stall_seconds=1):
                pass
    finally:
        writer = os.open(stuck, os.O_WRONLY | os.O_NONBLOCK)  # lets the blocked reader go (empty file)
        os.close(writer)
    assert time.monotonic() - start < 30
