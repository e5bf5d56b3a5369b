"""The batch-normalization lesson: identical fully connected networks with and without batch norm.

Every network of an experiment is trained at once: their weights are stacked into (P, in, out) tensors
and one batched matmul per layer serves them all, each with its own activation, learning rate and
starting weights. A pair (one row of the lesson's table) is P = 2; the whole table is P = 30. The two
networks of a row start from identical weights and see identical batches; only batch norm differs.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import ConfigError

ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
               "leaky_relu": lambda x: F.leaky_relu(x, 0.2)}
WEIGHT_STDS = {"reasonable": 0.05, "bad": 5.0}  # the lesson's two starting points
TABLE_PATH = Path(__file__).resolve().parent / "assets" / "bn_lesson_table.csv"


@dataclass
class LabConfig:
    activation: str = "relu"         # one of ACTIVATIONS, on every hidden layer
    lr: float = 0.01                 # plain SGD (the lesson: 0.01, 1 and 2)
    weights: str = "reasonable"      # "reasonable" (std 0.05), "bad" (std 5.0) or "custom" (weight_std)
    weight_std: float = 0.05         # normal std of the starting weights when weights == "custom"
    iterations: int = 2000           # batches of training (the lesson: 2,000 and 50,000)
    eval_every: int = 50             # batches between validation accuracies
    seed: int = 0                    # starting weights and batch order

    @property
    def std(self) -> float:
        return self.weight_std if self.weights == "custom" else WEIGHT_STDS[self.weights]

    def validate(self) -> "LabConfig":
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {self.activation!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be positive, not {self.lr} (the lesson uses 0.01, 1 and 2)")
        if self.weights not in (*WEIGHT_STDS, "custom"):
            raise ConfigError(f"weights must be reasonable, bad or custom, not {self.weights!r}")
        if not self.std > 0:
            raise ConfigError(f"the starting weights' std must be positive, not {self.std}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be at least 1, not {self.iterations}")
        if self.eval_every < 1:
            raise ConfigError(f"validation every N batches needs N of at least 1, not {self.eval_every}")
        return self


@dataclass
class NetworkShape:
    hidden: tuple[int, ...] = (100, 100, 100)  # the lesson's three hidden layers
    inputs: int = 784                          # 28 x 28 grayscale
    classes: int = 10
    batch_size: int = 60                       # the lesson's batch
    bn_momentum: float = 0.01                  # TF's decay 0.99: population statistics move 1% per batch
    bn_eps: float = 1e-3                       # TF's default epsilon
    validation_size: int = 5000


@dataclass
class NetworkResult:
    batchnorm: bool
    validation: list[tuple[int, float]] = field(default_factory=list)  # (iteration, accuracy)
    loss: list[tuple[int, float]] = field(default_factory=list)        # (iteration, training loss)
    diverged_at: int | None = None       # the iteration whose loss became NaN/inf
    test_accuracy: float | None = None


class StackedNetworks:
    """P fully connected networks of one shape as stacked tensors; networks [0, P/2) have no batch norm and
    network i + P/2 is network i's twin with batch norm (same starting weights)."""

    def __init__(self, configs: list[LabConfig], shape: NetworkShape, device: str | torch.device = "cpu"):
        self.shape, self.rows = shape, len(configs)
        sizes = [shape.inputs, *shape.hidden, shape.classes]
        self.weights = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            per_row = [torch.randn(n_in, n_out, generator=torch.Generator().manual_seed(c.seed * 7919 + len(self.weights)))
                       * c.std for c in configs]  # the same draw for a row's two twins, at any table size
            self.weights.append(torch.stack(per_row + per_row).to(device).requires_grad_(True))  # (P, in, out)
        P = 2 * self.rows
        hidden = shape.hidden
        zeros = lambda *size: torch.zeros(*size, device=device, requires_grad=True)  # noqa: E731
        self.biases = [zeros(P, 1, h) for h in hidden]                                   # used without batch norm
        self.gammas = [torch.ones(P, 1, h, device=device, requires_grad=True) for h in hidden]  # used with it
        self.betas = [zeros(P, 1, h) for h in hidden]
        self.out_bias = zeros(P, 1, shape.classes)
        self.running = [(torch.zeros(P, 1, h, device=device), torch.ones(P, 1, h, device=device)) for h in hidden]
        self.lr = torch.tensor([c.lr for c in configs] * 2, device=device).view(P, 1, 1)
        names = [c.activation for c in configs] * 2
        self.act_masks = {a: torch.tensor([n == a for n in names], device=device).view(P, 1, 1) for a in set(names)}

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases, *self.gammas, *self.betas, self.out_bias]

    def forward(self, x: torch.Tensor, training: bool, update_population: bool = True) -> torch.Tensor:
        """x (B, 784) -> logits (P, B, classes). Training mode normalises with the batch's statistics (and
        updates the population ones unless told not to); eval mode uses the population statistics."""
        h, half = x, self.rows
        for layer, (running_mean, running_var) in enumerate(self.running):
            z = torch.matmul(h, self.weights[layer])  # (P, B, out); the first layer broadcasts x to all P
            plain = z[:half] + self.biases[layer][:half]
            zb = z[half:]
            if training:
                # By hand: torch.var_mean over the middle dim took 0.47 ms here, mean and square 0.04 ms.
                mean = zb.mean(1, keepdim=True)
                var = (zb - mean).square().mean(1, keepdim=True)
                with torch.no_grad():
                    m = self.shape.bn_momentum if update_population else 0.0
                    running_mean[half:].lerp_(mean, m)
                    running_var[half:].lerp_(var, m)
            else:
                mean, var = running_mean[half:], running_var[half:]
            normed = (zb - mean) / torch.sqrt(var + self.shape.bn_eps) * self.gammas[layer][half:] + self.betas[layer][half:]
            z = torch.cat([plain, normed])
            h = self._activate(z)
        return torch.matmul(h, self.weights[-1]) + self.out_bias

    def _activate(self, z: torch.Tensor) -> torch.Tensor:
        if len(self.act_masks) == 1:  # one activation for all (a pair): no masks to apply
            return ACTIVATIONS[next(iter(self.act_masks))](z)
        h = None
        for name, mask in self.act_masks.items():
            h = ACTIVATIONS[name](z) if h is None else torch.where(mask, ACTIVATIONS[name](z), h)
        return h

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 2500) -> torch.Tensor:
        """(P,) fraction of x classified as y, with population statistics (eval mode)."""
        correct = sum((self.forward(xs, training=False).argmax(-1) == ys).sum(1) for xs, ys in
                      zip(x.split(chunk), y.split(chunk)))
        return correct.float() / len(x)


def train_networks(configs: list[LabConfig], data, shape: NetworkShape = NetworkShape(), progress=None,
                   should_stop=None, device: str = "cpu") -> tuple[list[tuple[NetworkResult, NetworkResult]], StackedNetworks]:
    """Train each config's pair (without, with batch norm) all at once; returns one (without, with) per config,
    and the trained networks (for the inference-mode demo).

    `data` is a LabData; `progress(iteration, total, results)` is called after each validation;
    `should_stop()` ends training early (the results so far are returned)."""
    for c in configs:
        c.validate()
    nets = StackedNetworks(configs, shape, device)
    on = lambda t: t.to(device)  # noqa: E731
    train_x, train_y, val_x, val_y = on(data.train_x), on(data.train_y), on(data.val_x), on(data.val_y)
    P, rows = 2 * len(configs), len(configs)
    results = [NetworkResult(batchnorm=i >= rows) for i in range(P)]
    limits = torch.tensor([c.iterations for c in configs] * 2)
    eval_every = torch.tensor([c.eval_every for c in configs] * 2)
    total = int(limits.max())
    active = torch.ones(P, dtype=torch.bool)
    order = torch.Generator().manual_seed(configs[0].seed)  # one batch stream for every network
    perm, cursor = torch.randperm(len(data.train_x), generator=order), 0
    for it in range(1, total + 1):
        if cursor + shape.batch_size > len(perm):
            perm, cursor = torch.randperm(len(data.train_x), generator=order), 0
        idx = on(perm[cursor:cursor + shape.batch_size])
        cursor += shape.batch_size
        logits = nets.forward(train_x[idx], training=True)                          # (P, B, 10)
        losses = F.cross_entropy(logits.flatten(0, 1), train_y[idx].repeat(P), reduction="none").view(P, -1).mean(1)
        for p in nets.parameters():
            p.grad = None
        losses.sum().backward()  # the networks share no parameters: each gets its own loss's gradient
        step = nets.lr * on(active & (it <= limits)).view(P, 1, 1)  # 0 once a network is done or diverged
        with torch.no_grad():
            for p in nets.parameters():  # plain SGD, in place, each network at its own rate
                p.addcmul_(step, p.grad, value=-1)
        finite = torch.isfinite(losses.detach()).cpu()
        for i in torch.nonzero(active & ~finite).flatten().tolist():
            results[i].diverged_at = it
        active &= finite
        due = (it % eval_every == 0) & (it <= limits)
        if due.any():
            accuracy = nets.accuracy(val_x, val_y).cpu()
            for i in torch.nonzero(due).flatten().tolist():
                results[i].validation.append((it, accuracy[i].item() if active[i] else float("nan")))
                results[i].loss.append((it, losses[i].item()))
            if progress:
                progress(it, total, results)
        if should_stop and should_stop():
            break
    test = nets.accuracy(on(data.test_x), on(data.test_y)).cpu()
    for i, r in enumerate(results):
        r.test_accuracy = test[i].item()
    return [(results[i], results[i + rows]) for i in range(rows)], nets


def train_pair(config: LabConfig, data, shape: NetworkShape = NetworkShape(), progress=None, should_stop=None,
               device: str = "cpu"):
    """One row: ((without batch norm, with batch norm), the two trained networks)."""
    pairs, nets = train_networks([config], data, shape, progress, should_stop, device)
    return pairs[0], nets


@dataclass
class TableRow:
    weights: str
    lr: float
    activation: str
    iterations: int
    without_bn: float       # the lesson's published test accuracies
    with_bn: float
    note: str = ""


def lesson_table(path: Path = TABLE_PATH) -> list[TableRow]:
    with open(path, newline="") as f:
        return [TableRow(r["weights"], float(r["lr"]), r["activation"], int(r["iterations"]), float(r["without_bn"]),
                         float(r["with_bn"]), r["note"]) for r in csv.DictReader(f)]


def table_configs(rows: list[TableRow], iterations: int | None = None, seed: int = 0, eval_every: int = 250) -> list[LabConfig]:
    """A LabConfig per published row, at its published iteration count or at `iterations` for all."""
    return [LabConfig(activation=r.activation, lr=r.lr, weights=r.weights, iterations=iterations or r.iterations,
                      eval_every=eval_every, seed=seed) for r in rows]


def run_table(rows: list[TableRow], data, iterations: int | None = None, seed: int = 0, shape: NetworkShape = NetworkShape(),
              progress=None, should_stop=None, device: str = "cpu") -> list[tuple[NetworkResult, NetworkResult]]:
    """Every row's pair in one batched run. Rows that become identical (at 2,000 iterations for all, three
    pairs of rows differ only in their published count) are trained once and their results shared."""
    configs = table_configs(rows, iterations, seed)
    unique = list(dict.fromkeys(repr(c) for c in configs))
    results, _ = train_networks([configs[[repr(c) for c in configs].index(u)] for u in unique], data, shape,
                                progress, should_stop, device)
    return [results[unique.index(repr(c))] for c in configs]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


@dataclass
class LabData:
    train_x: torch.Tensor   # (N, 784) float in [0, 1]
    train_y: torch.Tensor   # (N,) int64
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    name: str


def ink(images: torch.Tensor) -> torch.Tensor:
    """Street-digits as MNIST-like 'ink' (N, 784) in [0, 1]: |pixel - the image's median| over its largest.

    MNIST digits are strokes on a zero background; street-digits have mid-grey backgrounds of every shade,
    on which the lesson's plain MLP barely learns with or without batch norm (test accuracy 0.13 after
    2,000 batches, ReLU, lr 0.01). As ink, the pattern of the lesson shows (0.60 without, 0.89 with)."""
    x = images.flatten(1).float()
    d = (x - x.median(1, keepdim=True).values).abs()
    return d / d.amax(1, keepdim=True).clamp_min(1.0)


def load_lab_data(data_dir: str = "", limit: int = 0, shape: NetworkShape = NetworkShape()) -> LabData:
    """28x28 grayscale digits: MNIST when its files are in the data folder, else the built-in street-digits
    (offline). The last `validation_size` training images are held out for validation, as in the lesson.
    `limit` caps each split (tests and quick tries; street-digits then draws only that many)."""
    from .config import DataConfig
    from .datasets import TORCHVISION_FILES, data_dir as resolve_data_dir, load_images

    mnist = DataConfig(dataset="mnist", data_dir=data_dir)
    dataset = "mnist" if (resolve_data_dir(mnist) / TORCHVISION_FILES["mnist"]).exists() else "street-digits"
    cfg = DataConfig(dataset=dataset, data_dir=data_dir, limit=limit)
    train, test = load_images(cfg, 28, 1, "train"), load_images(cfg, 28, 1, "test")
    flat = lambda images: images.flatten(1).float() / 255 if dataset == "mnist" else ink(images)  # noqa: E731
    x, y = flat(train.images), train.labels.long()
    n_val = min(shape.validation_size, len(x) // 10)
    return LabData(x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], flat(test.images), test.labels.long(),
                   "MNIST" if dataset == "mnist" else "street-digits (grayscale 28 px, as ink)")
