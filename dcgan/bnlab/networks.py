"""The batch-norm lesson's networks, stacked: P fully connected nets of one shape trained as one computation.

Weights are (P, in, out) tensors and every layer is one batched matmul for all P networks, each with its
own activation, learning rate and starting weights. Training runs a hand-written forward and backward
with the SGD update folded into the weight-gradient matmul (W -= h^T @ (lr * dz), one baddbmm_): at these
sizes autograd's bookkeeping, the separate gradient tensors and the update pass cost a third of a step
(12 ms -> 8 ms a step for 24 networks on a 2-core CPU). tests/test_bnlab.py checks it against autograd.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dcgan.bnlab.inside import Probe


@dataclass(frozen=True)
class Activation:
    apply_: Callable[[torch.Tensor], torch.Tensor]  # in place
    slope_: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # grad *= its derivative, given its output h


LEAKY_SLOPE = 0.2
# A row's layer l draws its starting weights from torch seed `seed * WEIGHT_SEED_STRIDE + l`: one stream per
# (seed, layer), the same whatever the table's size or order, and no two pairs share one as long as the stride
# exceeds the layer count (4). 7919 is simply a prime far above it; experiment.MAX_SEED keeps the product
# within torch's 64-bit seeds.
WEIGHT_SEED_STRIDE = 7919
# ReLU's slopes use autograd's own backward kernels, written into grad: on this CPU a comparison like (h > 0)
# takes 100 us on a (24, 60, 100) tensor, the kernel 20 us.
ACTIVATIONS = {
    "relu": Activation(
        torch.relu_, lambda grad, h: torch.ops.aten.threshold_backward.grad_input(grad, h, 0, grad_input=grad)
    ),
    "sigmoid": Activation(torch.sigmoid_, lambda grad, h: grad.mul_(torch.addcmul(h, h, h, value=-1))),  # h - h^2
    "tanh": Activation(torch.tanh_, lambda grad, h: grad.mul_(torch.addcmul(h.new_ones(()), h, h, value=-1))),
    "leaky_relu": Activation(
        lambda u: F.leaky_relu_(u, LEAKY_SLOPE),
        lambda grad, h: torch.ops.aten.leaky_relu_backward.grad_input(grad, h, LEAKY_SLOPE, True, grad_input=grad),
    ),
}


@dataclass
class NetworkShape:
    hidden: tuple[int, ...] = (100, 100, 100)  # the lesson's three hidden layers
    inputs: int = 784  # 28 x 28 grayscale
    classes: int = 10
    batch_size: int = 60  # the lesson's batch
    bn_momentum: float = 0.01  # TF's decay 0.99: population statistics move 1% per batch
    bn_eps: float = 1e-3  # TF's default epsilon
    validation_size: int = 5000


class StackedNetworks:
    """P = 2 x rows networks, one row per config (activation, lr, weight std, seed): networks [0, rows) have no
    batch norm and network i + rows is network i's twin with batch norm (same starting weights). A subset()
    holds any selection of them; `batchnorm` (P, 1, 1) says which have it."""

    def __init__(self, configs, shape: NetworkShape, device: str | torch.device = "cpu"):
        self.shape, rows = shape, len(configs)
        sizes = [shape.inputs, *shape.hidden, shape.classes]
        self.weights: list[torch.Tensor] = []
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            per_row = [
                torch.randn(n_in, n_out, generator=torch.Generator().manual_seed(c.seed * WEIGHT_SEED_STRIDE + layer))
                * c.std
                for c in configs
            ]  # the same draw for a row's two twins, at any table size
            self.weights.append(torch.stack(per_row + per_row).to(device))  # (P, in, out)
        # The first layer is kept as (in, P, out) memory, seen as (P, in, out): every network reads the same x,
        # so its forward and its update are one plain matmul each over all P (x @ W, W -= x^T @ dz), 1.5 ms a
        # step faster here than the batched matmul, whose batch of x would be a broadcast.
        self.weights[0] = _first_layer_memory(self.weights[0])
        P, hidden = 2 * rows, shape.hidden
        # Every network has a shift and a gamma per hidden unit: the shift is the bias without batch norm and
        # beta with it; gamma stays 1 without. One code path for all P beats slicing the stack in two.
        self.batchnorm = torch.arange(P, device=device).view(P, 1, 1) >= rows
        self.shifts = [torch.zeros(P, 1, h, device=device) for h in hidden]
        self.gammas = [torch.ones(P, 1, h, device=device) for h in hidden]
        self.out_bias = torch.zeros(P, 1, shape.classes, device=device)
        self.running = [(torch.zeros(P, 1, h, device=device), torch.ones(P, 1, h, device=device)) for h in hidden]
        self.lr = torch.tensor([c.lr for c in configs] * 2, device=device).view(P, 1, 1)
        self.activations = [c.activation for c in configs] * 2
        self.groups = _activation_groups(self.activations)

    def subset(self, keep: list[int]) -> StackedNetworks:
        """A new stack of networks `keep` (positions in this one), e.g. without those done training."""
        out = copy.copy(self)
        index = torch.tensor(keep, device=self.lr.device)
        pick = lambda t: t.index_select(0, index)
        out.weights = [_first_layer_memory(pick(self.weights[0])), *map(pick, self.weights[1:])]
        out.shifts, out.gammas = list(map(pick, self.shifts)), list(map(pick, self.gammas))
        out.running = [(pick(mean), pick(var)) for mean, var in self.running]
        out.out_bias, out.lr, out.batchnorm = pick(self.out_bias), pick(self.lr), pick(self.batchnorm)
        out.activations = [self.activations[i] for i in keep]
        out.groups = _activation_groups(out.activations)
        return out

    def __len__(self) -> int:
        return len(self.lr)

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.shifts, *self.gammas, self.out_bias]

    def _hidden(
        self, layer: int, z: torch.Tensor, training: bool, update_population, saved: list | None, probe: Probe | None
    ):
        """z (P, B, n) -> activation (P, B, n): gamma (z - mean) / std + beta with batch norm, z + bias without."""
        running_mean, running_var = self.running[layer]
        if training:  # the statistics of every network's batch (those without batch norm ignore them)
            mean = z.mean(1, keepdim=True)
            centred = z - mean
            # By hand: torch.var_mean and vector_norm over the middle dim take 0.3-0.5 ms here, these 0.04 ms.
            var = centred.square().mean(1, keepdim=True)
            if update_population is not False:
                rate = self.shape.bn_momentum * update_population  # per network when given a mask
                running_mean.lerp_(mean, rate)
                running_var.lerp_(var, rate)
        else:
            mean, var = running_mean, running_var
        rstd = (var + self.shape.bn_eps).rsqrt_()
        scale = torch.where(self.batchnorm, self.gammas[layer] * rstd, 1.0)
        offset = torch.where(self.batchnorm, self.shifts[layer] - mean * scale, self.shifts[layer])
        u = torch.addcmul(offset, z, scale)
        pre = u.clone() if probe is not None else None  # the activation works in place
        for start, stop, activation in self.groups:
            activation.apply_(u[start:stop])
        if probe is not None and pre is not None:
            probe.hidden(pre, u)
        if saved is not None:
            saved.append((u, centred, rstd, scale))
        return u

    @torch.no_grad()
    def forward(
        self,
        x: torch.Tensor,
        training: bool,
        update_population: bool | torch.Tensor = True,
        saved: list | None = None,
        probe: Probe | None = None,
    ):
        """x (B, inputs) -> logits (P, B, classes). Training mode normalises with the batch's statistics and
        moves the population ones (all networks', none, or those of a (P, 1, 1) mask `update_population`);
        eval mode uses the population statistics.
        `saved` (training mode) collects each hidden layer's (activation, z - mean, 1 / std, scale) for the backward;
        `probe` each hidden layer's pre-activation and activation (dcgan/bnlab/inside.py)."""
        h = x
        for layer in range(len(self.running)):
            z = self._first_layer(x) if layer == 0 else torch.bmm(h, self.weights[layer])
            h = self._hidden(layer, z, training, update_population, saved, probe)
        return torch.baddbmm(self.out_bias, h, self.weights[-1])

    @torch.no_grad()
    def train_step(self, x: torch.Tensor, y: torch.Tensor, step: torch.Tensor, probe: Probe | None = None):
        """One SGD step of every network on the batch (x, y): returns the (P,) cross-entropy losses.
        `step` (P, 1, 1) is each network's learning rate for this step (0 leaves a network as it is, its
        population statistics too). A `probe` is handed the tensors of this step that the inside view reads;
        its updates are then computed apart from the weights (W -= update), to measure them."""
        saved: list[tuple[torch.Tensor, ...]] = []  # per hidden layer, what its backward needs (see _hidden)
        logits = self.forward(x, training=True, update_population=step > 0, saved=saved, probe=probe)
        log_probs = logits.log_softmax(-1)
        picked = log_probs.gather(-1, y.view(1, -1, 1).expand(len(logits), -1, 1))
        losses = -picked.mean((1, 2))
        batch = len(y)
        # The gradient, scaled by each network's step from the start: everything below is linear in it, so
        # every weight update is then just "minus the gradient", W -= h^T @ dz in the weight-gradient matmul.
        grad = log_probs.exp_()  # d loss / d logits = (softmax - one hot) / batch
        grad.scatter_add_(-1, y.view(1, -1, 1).expand(len(logits), -1, 1), torch.full_like(picked, -1.0))
        grad.mul_(step / batch)
        self.out_bias.sub_(grad.sum(1, keepdim=True))
        for layer in reversed(range(1, len(self.weights))):  # grad: step x d loss / d this layer's output
            below = torch.bmm(grad, self.weights[layer].transpose(1, 2))
            if probe is None:
                self.weights[layer].baddbmm_(saved[layer - 1][0].transpose(1, 2), grad, alpha=-1)  # the SGD step
            else:
                update = torch.bmm(saved[layer - 1][0].transpose(1, 2), grad)  # (P, in, out)
                probe.update(layer, _norms(update, (1, 2)), _norms(self.weights[layer], (1, 2)))
                self.weights[layer].sub_(update)
            reaching = _norms(below, (1, 2)) if probe is not None else None
            grad = self._hidden_backward(layer - 1, below, saved[layer - 1])  # `below` is now d loss / d u
            if probe is not None and reaching is not None:
                probe.passed(layer - 1, _norms(below, (1, 2)) / reaching)
        if probe is None:
            self._first_layer_weights().addmm_(x.T, _side_by_side(grad), alpha=-1)
        else:
            update = x.T @ _side_by_side(grad)  # (in, P * out)
            norm = _norms(update.view(len(x.T), len(self), -1), (0, 2))
            probe.update(0, norm, _norms(self.weights[0], (1, 2)))
            self._first_layer_weights().sub_(update)
        return losses

    def _hidden_backward(self, layer: int, grad: torch.Tensor, saved: tuple) -> torch.Tensor:
        """(step x) d loss / d activation -> d loss / d z; updates the layer's shifts and gammas."""
        h, centred, rstd, scale = saved
        batch = len(grad[0])
        for start, stop, activation in self.groups:
            activation.slope_(grad[start:stop], h[start:stop])
        d_shift = grad.sum(1, keepdim=True)  # d bias, or d beta
        d_gamma = torch.linalg.vecdot(grad, centred, dim=1).unsqueeze(1) * rstd  # normed = centred / std
        # Batch norm's backward: dz = gamma / std * (du - mean(du) - normed * mean(du * normed)); without, dz = du.
        mean_term = torch.where(self.batchnorm, scale * d_shift / -batch, 0.0)
        centred_term = torch.where(self.batchnorm, scale * d_gamma * rstd / -batch, 0.0)
        dz = torch.addcmul(mean_term, grad, scale).addcmul_(centred, centred_term)
        self.shifts[layer].sub_(d_shift)
        self.gammas[layer].sub_(d_gamma * self.batchnorm)
        return dz

    def _first_layer_weights(self) -> torch.Tensor:
        """(in, P * out), a view: updating it updates self.weights[0]."""
        return self.weights[0].transpose(0, 1).view(self.shape.inputs, -1)

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in) -> z (P, B, out) for all P networks in one matmul."""
        return (x @ self._first_layer_weights()).view(len(x), len(self), -1).transpose(0, 1).contiguous()

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 2500) -> torch.Tensor:
        """(P,) fraction of x classified as y, with population statistics (eval mode)."""
        correct = sum(
            (self.forward(xs, training=False).argmax(-1) == ys).sum(1) for xs, ys in zip(x.split(chunk), y.split(chunk))
        )
        return correct.float() / len(x)


def _norms(t: torch.Tensor, dims: tuple[int, int]) -> torch.Tensor:
    return torch.linalg.vector_norm(t, dim=dims)


def _side_by_side(t: torch.Tensor) -> torch.Tensor:
    """(P, B, n) -> (B, P * n): each network's columns next to the others', as the first layer's matmul wants."""
    return t.transpose(0, 1).reshape(t.shape[1], -1)


def _first_layer_memory(weights: torch.Tensor) -> torch.Tensor:
    """(P, in, out) weights laid out in memory as (in, P, out): see StackedNetworks.__init__."""
    return weights.transpose(0, 1).contiguous().transpose(0, 1)


def _activation_groups(names: list[str]) -> list[tuple[int, int, Activation]]:
    """Runs of neighbouring networks with the same activation, (start, stop, activation): a table sorted by
    activation has one run per activation and half, so one activation call per run."""
    starts = [i for i in range(len(names)) if i == 0 or names[i] != names[i - 1]]
    return [(start, stop, ACTIVATIONS[names[start]]) for start, stop in zip(starts, starts[1:] + [len(names)])]
