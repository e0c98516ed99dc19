"""The plain PyTorch DCGAN loop a researcher would write from pytorch/examples' ``dcgan/main.py``:
the reference that ``bench/speed.py`` measures ganforge against.

Same nets as ganforge's (imported from ``ganforge.nets``, nothing else of ganforge), Adam 2e-4
betas (0.5, 0.999), binary cross-entropy, one discriminator step on a real and a generated batch,
then one generator step on the same generated batch (pytorch/examples reuses it), data already
in memory as a float tensor in [-1, 1]. ``--precision bf16`` wraps the forward passes in
``torch.autocast(<device>, torch.bfloat16)``, as a user would add it.

    python bench/reference_dcgan.py --nets dcgan --size 32 --batch 64 --precision fp32
Prints one JSON line: images per second over the timed iterations (after the warm-up).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import torch
import torch.nn.functional as F

NETS = {"dcgan": (100, (32, 64, 128)), "lucic": (64, (28,))}  # latent size, image sizes


def build_nets(nets: str, channels: int, size: int) -> tuple[torch.nn.Module, torch.nn.Module, int]:
    z_dim, sizes = NETS[nets]
    if size not in sizes:
        raise SystemExit(f"--nets {nets} takes --size {' or '.join(map(str, sizes))}, got {size}")
    shape = (channels, size, size)
    if nets == "dcgan":
        from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator

        return DCGANGenerator(z_dim, shape), DCGANDiscriminator(shape), z_dim
    from ganforge.nets.infogan import InfoGANDiscriminator, InfoGANGenerator

    return InfoGANGenerator(z_dim, shape), InfoGANDiscriminator(shape), z_dim


def run(nets: str, size: int, channels: int, batch: int, iters: int, warmup: int, precision: str,
        device: str, num_images: int = 8192) -> dict:
    torch.manual_seed(0)
    dev = torch.device(device)
    net_g, net_d, z_dim = build_nets(nets, channels, size)
    net_g, net_d = net_g.to(dev), net_d.to(dev)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.rand(num_images, channels, size, size, device=dev) * 2 - 1
    ones, zeros = torch.ones(batch, device=dev), torch.zeros(batch, device=dev)

    def autocast():
        if precision == "bf16":
            return torch.autocast(dev.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    order = torch.randperm(num_images, device=dev)
    start = None
    for i in range(warmup + iters):
        if i == warmup:
            sync()
            start = time.perf_counter()
        first = (i * batch) % (num_images - batch + 1)
        real = data[order[first:first + batch]]
        # Discriminator: real batch, then a generated one (detached).
        net_d.zero_grad(set_to_none=True)
        with autocast():
            err_real = F.binary_cross_entropy_with_logits(net_d(real).float(), ones)
        err_real.backward()
        noise = torch.randn(batch, z_dim, device=dev)
        with autocast():
            fake = net_g(noise)
            err_fake = F.binary_cross_entropy_with_logits(net_d(fake.detach()).float(), zeros)
        err_fake.backward()
        opt_d.step()
        # Generator: the same generated batch, labelled real.
        net_g.zero_grad(set_to_none=True)
        with autocast():
            err_g = F.binary_cross_entropy_with_logits(net_d(fake).float(), ones)
        err_g.backward()
        opt_g.step()
    sync()
    seconds = time.perf_counter() - start
    return {"img_per_s": iters * batch / seconds, "seconds": seconds, "iters": iters, "batch": batch,
            "nets": nets, "size": size, "precision": precision, "device": device,
            "finite": bool(torch.isfinite(err_g).item() and torch.isfinite(err_real + err_fake).item())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", choices=sorted(NETS), default="dcgan")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=200, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(json.dumps(run(args.nets, args.size, args.channels, args.batch, args.iters, args.warmup, args.precision,
                         args.device)))


if __name__ == "__main__":
    main()
