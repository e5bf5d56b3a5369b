"""Several processes training one run (torchrun + DDP): the pieces, checked in one process, and the batch norm and
gradient averaging checked against one process with two gloo processes. Whole torchrun runs: test_torchrun.py."""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.nn.functional as F

from dcgan.config import ModelConfig, RunConfig
from dcgan.data.sharded import rank_slices, share_of_batch
from dcgan.errors import ConfigError
from dcgan.runs.launch_command import check_processes, gpu_options, processes_to_resume_with, trainer_command
from dcgan.train.distributed import FollowerRun, Solo
from dcgan.train.fast_path import COMPILE_PAYBACK_S, choose_compile, keep_first_transposed_weight_contiguous
from dcgan.train.torchrun_env import torchrun_place

CUDA = torch.device("cuda")  # only named, never used: the compile rule is a function of the device's type


def test_torchrun_is_recognised_from_its_variables_and_one_process_is_no_group():
    assert torchrun_place({}) is None
    assert torchrun_place({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None  # the single-process path
    place = torchrun_place({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert place is not None and (place.rank, place.world_size, place.local_rank) == (1, 2, 1)
    with pytest.raises(ConfigError, match="whole numbers"):
        torchrun_place({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_the_ranks_slices_make_up_each_global_batch_in_order_whatever_the_number_of_processes():
    order = torch.randperm(100, generator=torch.Generator().manual_seed(3))
    steps, batch = 100 // 16, 16
    for world in (1, 2, 4, 8):
        slices = [rank_slices(order, steps, batch, rank, world) for rank in range(world)]
        joined = torch.cat(slices, dim=1)  # (steps, batch): rank 0's share, then rank 1's...
        assert torch.equal(joined, order[: steps * batch].view(steps, batch))


def test_a_batch_that_does_not_split_evenly_is_refused_with_what_to_do():
    assert share_of_batch(128, 2) == 64
    with pytest.raises(ConfigError, match="multiple of 3"):
        share_of_batch(128, 3)


@pytest.mark.parametrize(
    ("mode", "device", "graphed", "world", "steps", "expected"),
    [
        ("on", torch.device("cpu"), False, 1, 10, True),
        ("off", CUDA, True, 1, 10**7, False),
        ("auto", torch.device("cpu"), False, 1, 10**7, False),
        ("auto", CUDA, False, 1, 10**7, False),  # eager compiled steps were slower
        ("auto", CUDA, True, 2, 10**7, False),  # DDP steps eagerly
        ("auto", CUDA, True, 1, 4_680, False),  # 12 epochs of 50k at 64 px: ~14 s, far from repaying the warm-up
        ("auto", CUDA, True, 1, 400 * 390, True),  # 400 epochs: ~7.5 min
    ],
)
def test_auto_compiles_only_long_graphed_single_process_cuda_runs(mode, device, graphed, world, steps, expected):
    choice = choose_compile(mode, device, graphed, world, steps, 128, 64, 64)
    assert choice.compile is expected
    assert choice.why.startswith(f"compile {mode}")


def test_the_compile_threshold_sits_where_the_estimate_crosses_the_payback_time():
    from dcgan.train.fast_path import estimated_h100_seconds

    steps_to_repay = int(COMPILE_PAYBACK_S / estimated_h100_seconds(1, 128, 64, 64)) + 1
    assert choose_compile("auto", CUDA, True, 1, steps_to_repay, 128, 64, 64).compile
    assert not choose_compile("auto", CUDA, True, 1, steps_to_repay - 2, 128, 64, 64).compile
    # a small model's steps cost the replay floor, not less: it needs more steps to repay the same warm-up
    assert estimated_h100_seconds(1000, 128, 32, 32) > estimated_h100_seconds(1000, 128, 64, 64) / 16


def test_the_compile_workaround_makes_only_the_first_transposed_weight_contiguous():
    from dcgan.models import build_models

    G, _ = build_models(ModelConfig(image_size=32, g_width=8, d_width=8))
    G = G.to(memory_format=torch.channels_last)
    keep_first_transposed_weight_contiguous(G)
    transposed = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert transposed[0].weight.is_contiguous()
    assert not transposed[1].weight.is_contiguous()  # the others stay channels-last


def test_old_config_files_load_compile_as_on_or_off_and_new_fields_default():
    old = RunConfig().to_dict()
    old["train"]["compile"] = False
    del old["train"]["sync_batchnorm"]
    loaded = RunConfig.from_dict({**old, "device_used": "cpu", "created": 1.0}).validate()
    assert loaded.train.compile == "off" and loaded.train.sync_batchnorm is True
    old["train"]["compile"] = True
    assert RunConfig.from_dict(old).train.compile == "on"
    assert RunConfig().train.compile == "auto"
    record = {"processes": 2, "batch_per_process": 64}
    assert RunConfig.from_dict({**RunConfig().to_dict(), "distributed": record}).validate() == RunConfig()
    with pytest.raises(ConfigError, match="compile must be one of auto, on, off"):
        RunConfig.from_dict({"compile": "fast"}).validate()


def test_the_background_trainer_of_several_gpus_is_torchrun_with_one_process_per_gpu(tmp_path):
    single = trainer_command(tmp_path / "run", 1)
    assert single[1:] == ["-m", "dcgan", "worker", str(tmp_path / "run")]
    four = trainer_command(tmp_path / "run", 4)
    assert four[1:] == [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=4",
        "-m",
        "dcgan",
        "worker",
        str(tmp_path / "run"),
    ]
    assert four[0] == single[0]  # the same Python, so the same installed dcgan


def test_the_app_offers_all_gpus_only_with_more_than_one():
    assert gpu_options(0) == () and gpu_options(1) == ()
    assert gpu_options(4) == (1, 4)


def test_several_gpus_are_checked_before_a_run_is_made():
    check_processes(1, "cpu", 100, 0)  # one process: nothing to check
    check_processes(4, "auto", 128, 4)
    with pytest.raises(ConfigError, match="choose device cuda"):
        check_processes(2, "cpu", 128, 2)
    with pytest.raises(ConfigError, match="has 1"):
        check_processes(2, "cuda", 128, 1)
    with pytest.raises(ConfigError, match="multiple of 4"):
        check_processes(4, "cuda", 126, 4)


def test_a_run_resumes_on_as_many_gpus_as_it_used_when_they_are_there():
    assert processes_to_resume_with({}, 8) == 1  # a run of one process, or made before this existed
    assert processes_to_resume_with({"distributed": {"processes": 4}}, 8) == 4
    assert processes_to_resume_with({"distributed": {"processes": 4}}, 2) == 1
    assert processes_to_resume_with({"distributed": {"processes": "4"}}, 8) == 1  # a damaged record


def test_a_follower_writes_nothing_into_the_run_folder(tmp_path):
    run = FollowerRun(tmp_path)
    run.write_config({"name": "x"})
    run.append_metrics({"step": 1})
    run.append_quality({"step": 1})
    run.write_status(state="running")
    run.write_status_even_if_full(state="failed")
    run.save_sample(1, None)
    run.request_stop()
    run.clear_stop()
    run.discard_after(0)
    run.discard_training()
    run.acquire_lock()
    run.release_lock()
    assert list(tmp_path.iterdir()) == []


def test_one_process_keeps_its_config_and_a_resume_by_one_drops_the_record_of_several():
    raw = {"name": "x", "train": {}}
    assert Solo().record(raw, 128, True) == raw
    assert Solo().record({**raw, "distributed": {"processes": 2}}, 128, True) == raw
    assert Solo().agree(False, True, True) == (True, True)  # one process decides at every step


# -- two gloo processes against one ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _d_step_gradients(D, real, fake, weights_of=None) -> dict[str, torch.Tensor]:
    """The GAN step's D loss on (real, fake), its backward, and the weight gradients of D (or of `weights_of`, the
    module D wraps)."""
    d_real, d_fake = D(real), D(fake)
    loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros_like(d_fake)
    )
    loss.backward()
    return {name: p.grad.clone() for name, p in (weights_of or D).named_parameters()}


def _two_processes(rank: int, port: int, sync: bool, out: str) -> None:
    import torch.distributed as dist

    from dcgan.models import build_models
    from dcgan.train.distributed import Group
    from dcgan.train.torchrun_env import Place

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    team = Group(Place(rank, 2, rank, 2), torch.device("cpu"), "gloo")
    torch.manual_seed(0)
    _, D = build_models(ModelConfig(image_size=16, g_width=8, d_width=8))
    D, _unused = team.prepare_models(D, torch.nn.Identity(), sync)
    G_run, D_run = team.wrap(torch.nn.Linear(1, 1), D)
    data = torch.Generator().manual_seed(1)
    real, fake = torch.rand(16, 3, 16, 16, generator=data) * 2 - 1, torch.rand(16, 3, 16, 16, generator=data) * 2 - 1
    share = slice(rank * 8, (rank + 1) * 8)
    grads = _d_step_gradients(D_run, real[share], fake[share], weights_of=D)
    running = {k: v.tolist() for k, v in D.state_dict().items() if "running" in k}
    # the G step's path: D frozen, gradients flow to the images only, through the module (no DDP reducer waiting)
    D.requires_grad_(False)
    image = fake[share].clone().requires_grad_(True)
    D_run(image).sum().backward()
    if rank == 0:
        torch.save({"grads": grads, "running": running, "image_grad": image.grad}, out)
    # Both wait for rank 0's file (as Group.leave does on the torchrun path), and the DDP wrappers, which hold the
    # group, go first, so the gloo group is torn down while both peers are alive and not at interpreter exit,
    # where CI once saw rank 1 abort ("terminate called without an active exception", SIGABRT).
    dist.barrier()
    del G_run, D_run
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("sync", [True, False])
def test_two_processes_of_eight_give_one_process_of_sixteen_gradients_only_with_synchronised_batch_norm(tmp_path, sync):
    from dcgan.models import build_models

    out = tmp_path / "rank0.pt"
    torch.multiprocessing.spawn(_two_processes, args=(_free_port(), sync, str(out)), nprocs=2, join=True)
    torch.manual_seed(0)
    _, D = build_models(ModelConfig(image_size=16, g_width=8, d_width=8))
    data = torch.Generator().manual_seed(1)
    real, fake = torch.rand(16, 3, 16, 16, generator=data) * 2 - 1, torch.rand(16, 3, 16, 16, generator=data) * 2 - 1
    expected = _d_step_gradients(D, real, fake)
    got = torch.load(out)
    close = all(torch.allclose(got["grads"][k], expected[k], atol=1e-6, rtol=1e-4) for k in expected)
    running = {k: v.tolist() for k, v in D.state_dict().items() if "running" in k}
    same_running = json.dumps(got["running"]) == json.dumps(running)
    if sync:  # DDP's averaged gradients of the two shares are one process's gradients of the whole batch
        assert close
        for k in running:
            assert torch.allclose(torch.tensor(got["running"][k]), torch.tensor(running[k]), atol=1e-6)
        D.requires_grad_(False)
        image = fake.clone().requires_grad_(True)
        D(image).sum().backward()
        assert torch.allclose(got["image_grad"], image.grad[:8], atol=1e-6, rtol=1e-4)
    else:  # each share normalised by its own statistics: what DataParallel did, and not the same training
        assert not close and not same_running


class _AllDrawn:
    """A BackgroundDrawing that has drawn everything (DeviceBatches waits on it batch by batch)."""

    def __init__(self, count: int):
        self.ready = count

    def wait_for(self, n: int) -> None:
        assert n <= self.ready


@pytest.mark.parametrize("drawing", [False, True])
def test_each_ranks_batches_joined_are_the_one_process_batches_also_from_mid_epoch(drawing):
    from dcgan.data.batches import DeviceBatches
    from dcgan.data.loading import ImageSet
    from dcgan.data.sharded import ShardedDeviceBatches

    images = torch.randint(0, 256, (200, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    data = ImageSet(images, torch.zeros(200, dtype=torch.long), "test")
    one = DeviceBatches(data, 32, torch.device("cpu"), seed=7, first_epoch_block=64)
    for world in (2, 4):
        hosts = [
            DeviceBatches(data, 32, torch.device("cpu"), 7, 64, _AllDrawn(200) if drawing else None)
            for _ in range(world)
        ]
        ranks = [ShardedDeviceBatches(host, torch.device("cpu"), r, world) for r, host in enumerate(hosts)]
        assert all(r.steps_per_epoch == one.steps_per_epoch == 6 for r in ranks)
        for epoch, start in ((0, 0), (1, 0), (1, 4)):  # epoch 0 is drawn in blocks; (1, 4): a resume mid-epoch
            expected = list(one.epoch(epoch, start))
            shares = [list(r.epoch(epoch, start)) for r in ranks]
            assert all(len(s) == len(expected) for s in shares)
            for i, batch in enumerate(expected):
                assert torch.equal(torch.cat([s[i] for s in shares]), batch)


def test_a_run_whose_config_predates_compile_modes_and_sync_batchnorm_resumes(runs_dir):
    from conftest import tiny_config

    from dcgan.runs.manage import create_run
    from dcgan.train.trainer import train_run

    run = create_run(tiny_config("old", epochs=2, score_samples=0), runs_dir)
    calls: list[int] = []
    train_run(run, abort_fn=lambda: calls.append(1) or len(calls) >= 3)
    raw = json.loads(run.config_path.read_text())
    raw["train"]["compile"] = False  # as config.json was written before compile became auto/on/off
    del raw["train"]["sync_batchnorm"]
    run.config_path.write_text(json.dumps(raw))
    final = train_run(run)
    assert final["state"] == "finished" and final["compile"] == "compile off (asked for)"
    assert json.loads(run.config_path.read_text())["train"]["compile"] is False  # left as the person wrote it
