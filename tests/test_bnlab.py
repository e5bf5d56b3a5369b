"""The batch-norm lab: twins start equal, batching changes nothing, divergence is reported, the demos show the
lesson."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT

from dcgan.bnlab.experiment import (
    MAX_ITERATIONS,
    MAX_SEED,
    MAX_VALIDATIONS,
    LabConfig,
    NetworkShape,
    StackedNetworks,
    load_lab_data,
    train_networks,
    train_pair,
)
from dcgan.bnlab.inference_demo import generator_in_batches, one_at_a_time
from dcgan.bnlab.networks import ACTIVATIONS
from dcgan.bnlab.table import lesson_table, run_table, table_configs
from dcgan.errors import ConfigError


@pytest.fixture(scope="module")
def data(data_dir):
    return load_lab_data(limit=3000)


def test_data_is_28px_ink_in_unit_range_with_a_held_out_validation_split(data):
    assert data.train_x.shape[1] == 784 and len(data.val_x) == 300 and len(data.test_x) == 3000
    assert 0 <= data.train_x.min() and data.train_x.max() <= 1
    assert "street-digits" in data.name  # no MNIST files in the test data folder: the offline default


def test_twins_start_from_identical_weights_and_rows_from_their_own():
    configs = [LabConfig(weights="reasonable", seed=0), LabConfig(weights="bad", seed=0)]
    nets = StackedNetworks(configs, NetworkShape())
    for w in nets.weights:  # (P, in, out): rows 0, 1 without batch norm, then their twins 2, 3
        assert torch.equal(w[0], w[2]) and torch.equal(w[1], w[3])
    assert nets.weights[0][1].std() > 50 * nets.weights[0][0].std()  # "bad" is std 5.0, "reasonable" 0.05


def autograd_sgd_step(nets: StackedNetworks, p: int, x, y, activation: str, lr: float) -> tuple[float, list]:
    """Network p of the stack as plain PyTorch (F.batch_norm, F.cross_entropy, autograd): its loss and its
    parameters after one SGD step, in nets.parameters() order (unused ones, e.g. gamma without BN, unchanged)."""
    params = [t[p].clone().requires_grad_(True) for t in nets.parameters()]
    n = len(nets.shifts)
    weights, shifts, gammas, out_bias = (
        params[: n + 1],
        params[n + 1 : 2 * n + 1],
        params[2 * n + 1 : 3 * n + 1],
        params[-1],
    )
    h = x
    for layer in range(n):
        z = h @ weights[layer]
        u = (
            F.batch_norm(z, None, None, gammas[layer][0], shifts[layer][0], training=True, eps=nets.shape.bn_eps)
            if nets.batchnorm[p]
            else z + shifts[layer]
        )
        h = ACTIVATIONS[activation].apply_(u.clone())
    loss = F.cross_entropy(h @ weights[-1] + out_bias, y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return loss.item(), [(t - lr * g if g is not None else t).detach() for t, g in zip(params, grads)]


def test_the_hand_written_training_step_equals_autograd_for_every_activation():
    configs = [
        LabConfig(activation="relu", lr=0.5),
        LabConfig(activation="sigmoid", lr=1.0, weights="bad"),
        LabConfig(activation="tanh", lr=0.1),
        LabConfig(activation="leaky_relu", lr=0.3, seed=3),
    ]
    nets = StackedNetworks(configs, NetworkShape(hidden=(20, 16), inputs=30))
    x, y = torch.rand(12, 30, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 10
    expected = [autograd_sgd_step(nets, p, x, y, configs[p % 4].activation, configs[p % 4].lr) for p in range(8)]
    losses = nets.train_step(x, y, nets.lr)
    for p, (loss, params) in enumerate(expected):
        assert losses[p].item() == pytest.approx(loss, rel=1e-5)
        for ours, theirs in zip(nets.parameters(), params):
            torch.testing.assert_close(ours[p], theirs, rtol=1e-4, atol=1e-5)
    assert not torch.equal(nets.weights[0][0], nets.weights[0][4])  # the twins moved apart: batch norm differs


def test_the_batched_table_equals_training_each_pair_alone(data):
    rows = [r for r in lesson_table() if r.iterations == 2000]  # three distinct rows
    configs = table_configs(rows, iterations=40, eval_every=20)
    batched, _ = train_networks(configs, data)
    for config, pair in zip(configs, batched):
        alone, _ = train_pair(config, data)
        for together, single in zip(pair, alone):
            assert [i for i, _ in together.validation] == [i for i, _ in single.validation] == [20, 40]
            for (_, a), (_, b) in zip(together.loss, single.loss):
                assert a == pytest.approx(b, rel=1e-4, abs=1e-5)
            assert together.test_accuracy == pytest.approx(single.test_accuracy, abs=2 / len(data.test_x))


def test_retiring_done_and_diverged_networks_from_the_stack_changes_no_result(data):
    configs = [
        LabConfig(activation="relu", lr=10.0, weights="bad", iterations=60, eval_every=20),  # diverges
        LabConfig(activation="sigmoid", lr=1.0, iterations=30, eval_every=10),  # done early
        LabConfig(activation="tanh", lr=0.1, iterations=60, eval_every=20),
    ]
    kept, _ = train_networks(configs, data, report_every=10)
    retired, nets = train_networks(configs, data, report_every=10, retire=True)
    assert len(nets) < 6  # some left the stack before the end
    for pair_kept, pair_retired in zip(kept, retired):
        for a, b in zip(pair_kept, pair_retired):
            assert a.diverged_at == b.diverged_at
            assert [i for i, _ in a.validation] == [i for i, _ in b.validation]
            assert [v for _, v in a.validation] == pytest.approx([v for _, v in b.validation], nan_ok=True, abs=1e-6)
            assert [v for _, v in a.loss] == pytest.approx([v for _, v in b.loss], nan_ok=True, rel=1e-5)
            assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=1e-6)
    assert kept[0][0].diverged_at is not None and kept[1][0].validation[-1][0] == 30


@pytest.mark.slow  # trains six networks 120 iterations (a stop at the next batch is checked quickly below)
def test_stopping_early_reports_how_far_each_network_got(data):
    configs = [
        LabConfig(iterations=40, eval_every=10),
        LabConfig(activation="sigmoid", iterations=200, eval_every=10),
        LabConfig(activation="relu", lr=10.0, weights="bad", iterations=200, eval_every=10),
    ]  # diverges
    calls = []
    pairs, _ = train_networks(
        configs, data, report_every=10, retire=True, should_stop=lambda: calls.append(1) or len(calls) >= 120
    )
    assert pairs[2][0].diverged_at is not None
    assert [r.trained for pair in pairs for r in pair] == [40, 40, 120, 120, 120, 120]
    assert all(r.test_accuracy is not None for pair in pairs for r in pair)


def test_batch_norm_is_ahead_in_the_lessons_first_comparison(data):
    (without, with_bn), _ = train_pair(LabConfig(activation="relu", lr=0.01, iterations=300, eval_every=100), data)
    assert with_bn.test_accuracy > without.test_accuracy + 0.1
    assert with_bn.diverged_at is None


def test_a_network_that_blows_up_is_reported_diverged_and_the_rest_go_on(data):
    (without, with_bn), _ = train_pair(
        LabConfig(activation="relu", lr=10.0, weights="bad", iterations=60, eval_every=20), data
    )
    assert without.diverged_at is not None and without.diverged_at <= 60
    assert all(math.isnan(a) for i, a in without.validation if i >= without.diverged_at)
    assert with_bn.validation and not math.isnan(with_bn.validation[-1][1])  # its twin trained on
    # Its outputs are NaN and argmax takes a NaN for the largest: class 0 for every image, its test accuracy
    # exactly the share of zeros (chance, not the twin's score nor a number kept from before it blew up).
    assert without.test_accuracy == pytest.approx((data.test_y == 0).float().mean().item(), abs=1e-6)


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("lr", 0.0, "learning rate must be positive"),
        ("lr", math.inf, "learning rate must be positive and finite, not inf"),
        ("lr", math.nan, "learning rate must be positive and finite, not nan"),
        ("iterations", 0, "iterations must be at least 1"),
        ("iterations", 10**9, r"iterations must be at most 100,000, not 1,000,000,000: twice the lesson's longest"),
        ("iterations", MAX_ITERATIONS + 1, "iterations must be at most 100,000"),
        ("activation", "swish", "activation must be one of"),
        ("weight_std", -1.0, "std must be positive"),
        ("weight_std", math.inf, "std must be positive and finite, not inf"),
        ("weight_std", math.nan, "std must be positive and finite, not nan"),
        ("eval_every", 0, "needs N of at least 1"),
        ("seed", -1, "seed must be a whole number from 0 to 4,294,967,295, not -1"),
        ("seed", 2**62, "seed must be a whole number from 0"),  # seed x 7919 would overflow torch's 64-bit seed
    ],
)
def test_bad_settings_are_config_errors(setting, value, message):
    config = LabConfig(weights="custom" if setting == "weight_std" else "reasonable", **{setting: value})
    with pytest.raises(ConfigError, match=message):
        config.validate()


def test_validating_every_batch_of_a_long_run_is_refused_with_the_least_interval_that_is_allowed():
    with pytest.raises(ConfigError, match=r"at least 50 for 100,000 iterations, not 1: at most 2,000 validations"):
        LabConfig(iterations=MAX_ITERATIONS, eval_every=1).validate()
    LabConfig(iterations=MAX_ITERATIONS).validate()  # the default interval, 50, is fine at the limit
    LabConfig(iterations=MAX_VALIDATIONS, eval_every=1).validate()  # and every batch of a short run
    LabConfig(seed=MAX_SEED).validate()


def test_the_tables_iteration_count_is_bounded_and_zero_is_not_the_published_count():
    rows = lesson_table()
    assert [c.iterations for c in table_configs(rows)] == [r.iterations for r in rows]  # None: as published
    for iterations, message in ((0, "iterations must be at least 1"), (10**9, "iterations must be at most 100,000")):
        with pytest.raises(ConfigError, match=message):
            table_configs(rows, iterations)
        with pytest.raises(ConfigError, match=message):
            run_table(rows, data=None, iterations=iterations)  # refused before it looks at the data


@pytest.mark.parametrize(
    "args, message",
    [
        (["pair", "--iterations", "1000000000"], "iterations must be at most 100,000, not 1,000,000,000"),
        (["table", "--iterations", "1000000000"], "iterations must be at most 100,000, not 1,000,000,000"),
        (["table", "--iterations", "0"], "iterations must be at least 1"),
        (["pair", "--iterations", "100000", "--eval-every", "1"], "needs N of at least 50"),
        (["pair", "--lr", "inf"], "learning rate must be positive and finite"),
        (["pair", "--weights", "custom", "--weight-std", "nan"], "std must be positive and finite"),
        (["pair", "--seed", "-1"], "seed must be a whole number from 0"),
    ],
)
def test_the_cli_refuses_runaway_settings_in_one_line_before_loading_data(capsys, monkeypatch, args, message):
    import dcgan.bnlab.experiment
    from dcgan.cli import main

    monkeypatch.setattr(
        dcgan.bnlab.experiment, "load_lab_data", lambda *a, **k: pytest.fail("loaded data for a refused run")
    )
    code = main(["bn-lab", *args, "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err.startswith("dcgan: error: ") and message in err and err.count("\n") == 1


def test_a_stop_is_seen_at_the_very_next_batch_not_at_the_next_report_or_validation(data):
    """should_stop is asked after every batch (~9 ms for the whole table on a 2-core CPU; one with a
    validation costs ~40 of them): a Stop, or a closed tab, ends even a 100,000-iteration table at once."""
    asked = []
    configs = table_configs(lesson_table(), iterations=MAX_ITERATIONS)  # validated once, at the very end
    pairs, _ = train_networks(configs, data, should_stop=lambda: asked.append(1) or len(asked) >= 7, retire=True)
    assert len(asked) == 7 and {r.trained for pair in pairs for r in pair} == {7}  # report_every is 50
    assert all(r.test_accuracy is not None for pair in pairs for r in pair)


def test_the_published_table_ships_with_fifteen_rows_and_identical_rows_are_shared(data):
    rows = lesson_table()
    assert len(rows) == 15 and rows[1].without_bn == 0.8262 and rows[11].note == "a second run: 0.1010"
    results = run_table(rows[:3], data, iterations=10)  # rows 0 and 1 are the same at 10 iterations each
    assert results[0] is results[1] and results[2] is not results[0]


def test_one_at_a_time_with_batch_statistics_collapses_and_population_statistics_do_not(data):
    _, nets = train_pair(LabConfig(iterations=300, eval_every=300), data)
    scores = one_at_a_time(nets, data.test_x[:300], data.test_y[:300])
    batch_stats, population, whole = scores.values()
    assert batch_stats < 0.25 and population > 0.5 and whole > 0.5


def test_a_generators_image_depends_on_its_batch_only_in_training_mode():
    from dcgan.runs.generator_file import load_generator

    G, _ = load_generator(ROOT / "checkpoints" / "street-digits-32px.pt")
    before = {k: v.clone() for k, v in G.state_dict().items()}
    images = generator_in_batches(G, batches=3)
    train, evaluation = images["training mode"], images["eval mode"]
    assert (train[1] - train[2]).abs().max() > 0.1 and (train[0] - train[1]).abs().max() > 0.1
    assert (evaluation - evaluation[0]).abs().max() < 1e-5
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())  # the original is untouched
