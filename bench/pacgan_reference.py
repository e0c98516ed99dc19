"""The PacGAN authors' 2-D setup (fjxmlzn/PacGAN, synthetic_data_experiments) in plain PyTorch,
outside the project's loop: a cross-check of what the loop's presets give, and a fast probe.

  python bench/pacgan_reference.py --kind grid25 --pack 4 --lr 1e-3 --beta1 0.5 --decay 0.5 --iters 20000 [--alt]

G 4 x 400 (Linear without bias, BatchNorm, ReLU), a linear output; D 3 maxout layers (200 units
of 5 pieces) and a linear output; N(0, 0.02) weights, zero biases; the generator called once per
pack slot (BatchNorm over each slot's points, as the code's separate calls); logistic losses with
the non-saturating generator loss; both nets stepping from one graph (``--alt``: alternating
steps); the modes of 2,500 points scored with BatchNorm's population statistics. Prints
(iteration, modes, high-quality %, reverse KL, critic loss) every ``--every`` iterations and a
JSON line at the end. One thread, fp32.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from ganforge.data.toy2d import mixture_means  # noqa: E402  (the project's mixtures and metrics)
from ganforge.metrics.modes import mode_metrics  # noqa: E402


class Maxout(nn.Module):
    def __init__(self, inputs: int, units: int, pieces: int = 5) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(inputs, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(len(x), self.units, self.pieces).amax(-1)


def nets(pack: int, bn_momentum: float) -> tuple[nn.Module, nn.Module]:
    layers: list[nn.Module] = []
    width = 2
    for _ in range(4):
        layers += [nn.Linear(width, 400, bias=False), nn.BatchNorm1d(400, momentum=bn_momentum), nn.ReLU()]
        width = 400
    generator = nn.Sequential(*layers, nn.Linear(400, 2))
    critic = nn.Sequential(Maxout(2 * pack, 200), Maxout(200, 200), Maxout(200, 200), nn.Linear(200, 1))
    for module in [*generator.modules(), *critic.modules()]:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return generator, critic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", default="grid25", choices=["grid25", "ring8"])
    parser.add_argument("--pack", type=int, default=1)
    parser.add_argument("--iters", type=int, default=20000)
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam, both nets (the code: 1e-4)")
    parser.add_argument("--lr-d", type=float, default=None, help="the critic's, when it differs")
    parser.add_argument("--beta1", type=float, default=0.8, help="the code's 0.8")
    parser.add_argument("--alt", action="store_true", help="alternating steps instead of one graph")
    parser.add_argument("--decay", type=float, default=1.0,
                        help="share of the run before the learning rates fall linearly to 0 (1: constant)")
    parser.add_argument("--batch", type=int, default=100, help="packs per batch")
    parser.add_argument("--bn-momentum", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--every", type=int, default=5000)
    args = parser.parse_args()
    if args.pack < 1 or args.iters < 1 or args.batch < 1 or args.every < 1 or not 0 <= args.decay <= 1:
        parser.error("--pack, --iters, --batch and --every must be >= 1 and --decay within [0, 1]")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    generator, critic = nets(args.pack, args.bn_momentum)
    means, std = mixture_means(args.kind)
    rng = torch.Generator().manual_seed(args.seed)
    data = means[torch.randint(len(means), (100000,), generator=rng)] + std * torch.randn(100000, 2, generator=rng)
    lr_d = args.lr_d or args.lr
    opt_g = torch.optim.Adam(generator.parameters(), args.lr, betas=(args.beta1, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr_d, betas=(args.beta1, 0.999))
    decay_start = int(args.decay * args.iters)

    def fakes() -> Tensor:
        return torch.cat([generator(torch.randn(args.batch, 2)) for _ in range(args.pack)], 1)

    def reals() -> Tensor:
        return torch.cat([data[torch.randint(len(data), (args.batch,))] for _ in range(args.pack)], 1)

    def score() -> dict[str, float]:
        generator.eval()
        with torch.no_grad():
            points = generator(torch.randn(2500, 2, generator=torch.Generator().manual_seed(2333)))
        generator.train()
        return mode_metrics(points, means, std)

    started, history = time.time(), []
    for iteration in range(1, args.iters + 1):
        share = 1.0 if iteration <= decay_start else max(0.0, 1 - (iteration - 1 - decay_start) /
                                                       max(1, args.iters - decay_start))
        for group in opt_g.param_groups:
            group["lr"] = args.lr * share
        for group in opt_d.param_groups:
            group["lr"] = lr_d * share
        real, fake = reals(), fakes()
        if args.alt:
            loss_d = F.softplus(-critic(real)).mean() + F.softplus(critic(fake.detach())).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-critic(fakes())).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        else:
            d_fake = critic(fake)
            loss_d = F.softplus(-critic(real)).mean() + F.softplus(d_fake).mean()
            loss_g = F.softplus(-d_fake).mean()
            grads_d = torch.autograd.grad(loss_d, list(critic.parameters()), retain_graph=True)
            grads_g = torch.autograd.grad(loss_g, list(generator.parameters()))
            for param, grad in [*zip(critic.parameters(), grads_d), *zip(generator.parameters(), grads_g)]:
                param.grad = grad
            opt_d.step()
            opt_g.step()
        if iteration % args.every == 0 or iteration == args.iters:
            scores = score()
            history.append([iteration, scores["modes"], round(100 * scores["hq_ratio"], 1),
                            round(scores["reverse_kl"], 3), round(float(loss_d.detach()), 3)])
            print(history[-1], f"{(time.time() - started) / iteration * 1000:.1f} ms/it", flush=True)
    print(json.dumps({"args": vars(args), "history": history, "seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()
