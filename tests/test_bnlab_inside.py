"""The lab's inside view, several seeds, the sweep and the kept results: the numbers are the ones plain PyTorch
gives, recording them changes no training, seeds stacked equal seeds trained alone, files survive damage."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dcgan.bnlab import store
from dcgan.bnlab.experiment import LabConfig, NetworkShape, StackedNetworks, load_lab_data, train_networks, train_seeds
from dcgan.bnlab.inside import QUANTILES, InsideTrace, Probe, distribution, saturation
from dcgan.bnlab.networks import ACTIVATIONS
from dcgan.bnlab.seeds import by_row, curve_spread, spread
from dcgan.bnlab.sweep import SweepConfig, gains, run_sweep
from dcgan.bnlab.table import lesson_table, run_table
from dcgan.errors import ConfigError

SMALL = NetworkShape(hidden=(20, 16), inputs=30)


@pytest.fixture(scope="module")
def data(data_dir):
    return load_lab_data(limit=3000)


def autograd_inside(nets: StackedNetworks, p: int, x, y, activation: str):
    """Network p as plain PyTorch: per hidden layer its pre-activation and activation, and per weight matrix
    the gradient of the loss."""
    params = [t[p].clone().requires_grad_(True) for t in nets.parameters()]
    n = len(nets.shifts)
    weights, shifts, gammas = params[: n + 1], params[n + 1 : 2 * n + 1], params[2 * n + 1 : 3 * n + 1]
    out_bias = params[-1]
    h, pres, acts, us, hs = x, [], [], [], []
    for layer in range(n):
        z = h @ weights[layer]
        u = (
            F.batch_norm(z, None, None, gammas[layer][0], shifts[layer][0], training=True, eps=nets.shape.bn_eps)
            if nets.batchnorm[p]
            else z + shifts[layer]
        )
        pres.append(u.detach().clone())
        h = ACTIVATIONS[activation].apply_(u.clone())
        acts.append(h.detach().clone())
        us.append(u)
        hs.append(h)
    loss = F.cross_entropy(h @ weights[-1] + out_bias, y)
    grads = torch.autograd.grad(loss, [*weights, *us, *hs])
    passed = [grads[len(weights) + i].norm().item() / grads[len(weights) + n + i].norm().item() for i in range(n)]
    return pres, acts, grads[: len(weights)], [w.detach() for w in weights], passed


def test_inside_numbers_equal_plain_autograd_and_probing_changes_no_step():
    configs = [LabConfig(activation="sigmoid", lr=1.0, weights="bad"), LabConfig(activation="relu", lr=0.3, seed=2)]
    nets = StackedNetworks(configs, SMALL)
    plain = StackedNetworks(configs, SMALL)
    x, y = torch.rand(12, 30, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 10
    expected = [autograd_inside(nets, p, x, y, configs[p % 2].activation) for p in range(4)]
    trace = [InsideTrace() for _ in range(4)]
    probe = Probe(nets.activations)
    losses = nets.train_step(x, y, nets.lr, probe)
    probe.record(trace, 7, nets.lr.flatten(), losses)
    assert torch.equal(losses, plain.train_step(x, y, plain.lr))
    for ours, theirs in zip(nets.parameters(), plain.parameters()):  # the probed step moved the weights alike
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    for p, (pres, acts, grads, weights, passed) in enumerate(expected):
        t, lr = trace[p], configs[p % 2].lr
        assert t.iterations == [7] and t.loss[0] == pytest.approx(losses[p].item())
        q = torch.tensor(QUANTILES)
        for layer in range(2):
            for ours, theirs in ((t.pre_quantiles, pres), (t.act_quantiles, acts)):
                assert ours[0][layer] == pytest.approx(torch.quantile(theirs[layer], q).tolist(), rel=1e-4, abs=1e-5)
            low, high, counts = t.pre_histograms[0][layer]
            assert (low, high) == pytest.approx((pres[layer].min().item(), pres[layer].max().item()), rel=1e-5)
            assert sum(counts) == pres[layer].numel()
        assert t.grad_norm[0] == pytest.approx([g.norm().item() for g in grads], rel=1e-4)
        assert t.grad_passed[0] == pytest.approx(passed, rel=1e-4)
        ratios = [lr * g.norm().item() / w.norm().item() for g, w in zip(grads, weights)]
        assert t.update_ratio[0] == pytest.approx(ratios, rel=1e-4)


def test_saturation_counts_values_near_the_limits_and_units_dead_for_the_whole_batch():
    act = torch.tensor([[[0.01, 0.5], [0.99, 0.5]], [[0.98, -0.99], [0.0, 0.5]], [[0.0, 0.3], [0.0, 0.0]]])
    shares = saturation(torch.cat([act[:2], act[2:]]), ["sigmoid", "tanh", "relu"])
    assert shares.tolist() == pytest.approx([0.5, 0.5, 0.5])  # 2 of 4 values; 2 of 4 values; unit 0 of 2 dead
    leaky = saturation(torch.tensor([[[-0.1, 0.2], [-0.3, -0.1]]]), ["leaky_relu"])
    assert leaky.tolist() == pytest.approx([0.5])  # unit 0 negative for both examples, unit 1 not


def test_histograms_and_quantiles_take_every_finite_value_between_its_min_and_max():
    t = torch.stack([torch.linspace(-1, 1, 60).view(6, 10), torch.tensor([float("nan")] * 58 + [2.0, 4.0]).view(6, 10)])
    quantiles, ((low, high, counts), (low2, high2, counts2)) = distribution(t, bins=4)
    assert (low, high) == pytest.approx((-1, 1)) and counts == [15, 15, 15, 15]
    assert counts == torch.histc(t[0], 4, -1, 1).long().tolist()
    assert quantiles[0].tolist() == pytest.approx(torch.quantile(t[0].flatten(), torch.tensor(QUANTILES)).tolist())
    # a diverged network's NaN are left out: two values remain
    assert (low2, high2) == (2.0, 4.0) and counts2 == [1, 0, 0, 1] and quantiles[1, 2].item() == pytest.approx(3.0)


def test_recording_the_inside_view_changes_no_result_and_records_every_k_iterations(data):
    config = LabConfig(activation="tanh", lr=0.1, iterations=40, eval_every=20)
    (off,), _ = train_networks([config], data)
    config.inside_every = 15
    (on,), _ = train_networks([config], data)
    for a, b in zip(off, on):  # the probed steps' updates are summed apart: the same to rounding
        assert [v for _, v in a.loss] == pytest.approx([v for _, v in b.loss], rel=1e-5)
        assert a.validation == b.validation and a.test_accuracy == b.test_accuracy
        assert a.inside is None and b.inside is not None and b.inside.iterations == [1, 15, 30]
        assert len(b.inside.saturated[0]) == 3 and len(b.inside.grad_norm[0]) == 4  # hidden layers; matrices


def test_the_lessons_saturating_sigmoid_pair_shows_saturation_and_vanishing_gradients_without_batch_norm(data):
    config = LabConfig(activation="sigmoid", lr=1.0, weights="bad", iterations=100, eval_every=50, inside_every=50)
    ((without, with_bn),), _ = train_networks([config], data)
    assert min(without.inside.saturated[-1]) > 0.5 and max(with_bn.inside.saturated[-1]) < 0.2
    # its saturated sigmoids pass on under a fifth of the gradient the batch-norm twin's pass on
    assert max(without.inside.grad_passed[-1]) < 0.2 * min(with_bn.inside.grad_passed[-1])


def test_seeds_trained_at_once_equal_each_seed_trained_alone(data):
    config = LabConfig(activation="tanh", lr=0.1, iterations=30, eval_every=15, seed=4, seeds=3)
    together, nets = train_seeds(config, data)
    assert len(together) == 3 and len(nets) == 6
    for j, pair in enumerate(together):
        single = LabConfig(activation="tanh", lr=0.1, iterations=30, eval_every=15, seed=4 + j)
        alone, _ = train_networks([single], data, batch_seed=4)
        for a, b in zip(pair, alone[0]):
            assert [v for _, v in a.loss] == pytest.approx([v for _, v in b.loss], rel=1e-5)
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=1e-6)
    assert together[0][0].loss != together[1][0].loss  # the seeds' starting weights differ


def test_a_table_with_seeds_gives_each_row_its_seeds_in_order(data):
    rows = lesson_table()[:2]
    flat = run_table(rows, data, iterations=10, seeds=2)
    assert len(flat) == 4 and flat[0] is flat[2] and flat[1] is flat[3]  # rows 1 and 2 coincide at 10 iterations
    assert flat[0][0].loss != flat[1][0].loss


def test_spread_and_curve_bands_ignore_missing_values():
    s = spread([0.5, None, float("nan"), 0.7])
    assert (s.mean, s.low, s.high, s.count) == pytest.approx((0.6, 0.5, 0.7, 2))
    assert spread([None]) is None
    assert by_row([1, 2, 3, 4, 5, 6], 3) == [[1, 2, 3], [4, 5, 6]]
    from dcgan.bnlab.experiment import NetworkResult

    a = NetworkResult(False, validation=[(10, 0.2), (20, 0.4)])
    b = NetworkResult(False, validation=[(10, 0.4)])
    assert [(i, s.mean) for i, s in curve_spread([a, b])] == [(10, pytest.approx(0.3))]


def test_settings_for_seeds_and_the_inside_view_are_checked():
    with pytest.raises(ConfigError, match="seeds per network must be from 1 to 10, not 0"):
        LabConfig(seeds=0).validate()
    with pytest.raises(ConfigError, match="at least 4 for 2,000 iterations"):
        LabConfig(inside_every=1).validate()
    with pytest.raises(ConfigError, match="at most 64 train at once"):
        SweepConfig(seeds=3).cells()


def test_a_small_sweep_reports_each_cells_gain(data):
    sweep = SweepConfig(activations=("sigmoid", "relu"), lrs=(1.0,), weights=("bad",), iterations=30, seeds=2)
    results = run_sweep(sweep, data)
    cells = gains(sweep, results)
    assert [(c["activation"], c["lr"], c["weights"]) for c in cells] == [("sigmoid", 1.0, "bad"), ("relu", 1.0, "bad")]
    sigmoid = results[:2]
    expected = sum(b.test_accuracy - a.test_accuracy for a, b in sigmoid) / 2
    assert cells[0]["gain"].mean == pytest.approx(expected)


def test_results_round_trip_through_the_store_with_their_inside_view_and_are_kept(runs_dir, data):
    config = LabConfig("sigmoid", 1.0, "bad", iterations=20, eval_every=10, inside_every=10, seeds=2)
    pairs, _ = train_seeds(config, data)
    from dataclasses import asdict

    recorder = store.Recorder(store.Saved(store.PAIR, asdict(config), total=20))
    recorder.finish(pairs, stopped=False)
    saved, note = store.load(store.PAIR)
    assert note == "" and len(saved.results) == 2 and saved.config.seeds == 2
    back = saved.results[0][0].inside
    assert back.iterations == pairs[0][0].inside.iterations
    assert back.grad_norm == pairs[0][0].inside.grad_norm and back.grad_passed == pairs[0][0].inside.grad_passed
    assert back.pre_histograms[1][2][2] == pairs[0][0].inside.pre_histograms[1][2][2]
    kept, notes = store.kept_results(store.PAIR)
    assert len(kept) == 1 and not notes and kept[0][1].results[1][1].test_accuracy == pairs[1][1].test_accuracy


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r["results"][0][0]["inside"].update(grad_norm="many"),
        lambda r: r["results"][0][0]["inside"].pop("iterations"),
        lambda r: r.update(results=r["results"] * 3),  # more pairs than seeds
    ],
)
def test_a_damaged_kept_or_last_file_is_skipped_with_a_note(runs_dir, damage):
    result = store.NetworkResult(False, inside=InsideTrace(iterations=[1], grad_norm=[[1.0]], grad_passed=[[0.5]]))
    saved = store.Saved(store.PAIR, {"iterations": 10}, state="finished", results=[(result, result)])
    store.save(saved)
    path = store.keep(saved)
    for file in (path, store.path_of(store.PAIR)):
        record = json.loads(file.read_text())
        damage(record)
        file.write_text(json.dumps(record))
    assert store.load(store.PAIR)[0] is None and "could not be read" in store.load(store.PAIR)[1]
    kept, notes = store.kept_results(store.PAIR)
    assert kept == [] and len(notes) == 1


def test_only_the_newest_results_are_kept(runs_dir, monkeypatch):
    monkeypatch.setattr(store, "KEEP", 2)
    for started in (1e9, 1e9 + 60, 1e9 + 120):
        store.keep(store.Saved(store.TABLE, {"iterations": 10}, state="finished", started=started))
    kept, _ = store.kept_results(store.TABLE)
    assert [s.started for _, s in kept] == [1e9 + 120, 1e9 + 60]
    assert not math.isnan(kept[0][1].elapsed_s)


def test_the_cli_writes_the_lab_store_so_the_app_shows_its_pair_and_prints_the_inside_view(tmp_path, capsys, data):
    from dcgan.cli import main

    args = ["bn-lab", "pair", "--activation", "sigmoid", "--lr", "1", "--weights", "bad", "--iterations", "20"]
    code = main(
        [*args, "--eval-every", "10", "--seeds", "2", "--inside-every", "10", "--limit", "3000"]
        + ["--device", "cpu", "--runs-dir", str(tmp_path)]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "test accuracy without batch norm over 2 seeds:" in out
    assert "inside without batch norm at iteration 20, first seed" in out and "hidden 3" in out
    saved, note = store.load(store.PAIR, tmp_path)
    assert note == "" and saved.state == "finished" and saved.config.seeds == 2 and len(saved.results) == 2
    assert saved.results[0][0].inside.iterations == [1, 10, 20]
    assert len(store.kept_results(store.PAIR, tmp_path)[0]) == 1
