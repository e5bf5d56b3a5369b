"""`python -m dcgan latent directions | class-direction | truncation | map | memorisation GENERATOR`: the latent
explorer's measuring tools from a terminal (or a GPU box without the app), through the same engine as the Latent
explorer page. GENERATOR is a generator file, a run (folder or name) or a shipped generator's name."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dcgan.errors import ConfigError
from dcgan.progress import ProgressBar

TOOLS = ("directions", "class-direction", "truncation", "map", "memorisation")
OUTPUT_SUFFIX = {"directions": ".png", "class-direction": ".png", "map": ".csv"}  # what each tool's -o writes


def add_parser(sub) -> None:
    latent = sub.add_parser("latent", help="the latent explorer's tools: directions, truncation, map, memorisation")
    which = latent.add_subparsers(
        dest="tool", required=True, parser_class=type(latent), metavar="{" + ",".join(TOOLS) + "}"
    )
    directions = which.add_parser("directions", help="SeFa or PCA directions, as -3σ..+3σ image strips")
    directions.add_argument("--family", choices=("sefa", "pca"), default="sefa", help="default sefa (closed form)")
    directions.add_argument("--count", type=int, default=5, help="directions, most important first (default 5)")
    directions.add_argument("-o", "--output", help="PNG of the strips, one row per direction")
    class_direction = which.add_parser("class-direction", help="move samples toward a class; class shares before/after")
    class_direction.add_argument("--to", type=int, required=True, help="the class (a digit) to move toward")
    class_direction.add_argument(
        "--conditional", action="store_true", help="keep the other classes' scores fixed (InterFaceGAN's version)"
    )
    class_direction.add_argument(
        "--amount", type=float, help="how far to move, in σ of z (default: as far as the app's class sliders reach)"
    )
    class_direction.add_argument("-o", "--output", help="PNG: 8 samples before (top) and after (bottom)")
    truncation = which.add_parser("truncation", help="the quality-variety numbers of a truncated batch")
    truncation.add_argument("--psi", type=float, default=0.5, help="ψ in [0, 1] (default 0.5); compared with ψ = 1")
    sample_map = which.add_parser("map", help="place samples by their classifier features; write them as CSV")
    sample_map.add_argument("-o", "--output", default="latent-map.csv", help="CSV to write (default latent-map.csv)")
    sample_map.add_argument("--real", action="store_true", help="also place real training images")
    sample_map.add_argument("--method", choices=("tsne", "pca"), default="tsne", help="placement (default tsne)")
    sample_map.add_argument("--psi", type=float, default=1.0, help="truncation ψ of the samples (default 1: none)")
    memorisation = which.add_parser("memorisation", help="does the generator copy its training images?")
    memorisation.add_argument("--samples", type=int, default=2000, help="samples placed nearer one pool (default 2000)")
    memorisation.add_argument("--images", type=int, default=48, help="images projected of each set (default 48)")
    memorisation.add_argument("--steps", type=int, default=150, help="Adam steps per projection (default 150)")
    memorisation.add_argument("--no-projection", action="store_true", help="skip the (slower) projection check")
    for parser in (directions, class_direction, truncation, sample_map, memorisation):
        parser.add_argument("generator", help="a generator .pt, a run folder or name, or a shipped generator's name")
        parser.add_argument("--best", action="store_true", help="a run's best_generator.pt instead of generator.pt")
        parser.add_argument("--seed", type=int, help="which samples (default: the page's)")
        parser.add_argument("--runs-dir", help="where run folders live (default: $DCGAN_RUNS_DIR or ./runs)")


def resolve_generator(text: str, runs_dir: str | None, best: bool = False) -> Path:
    """The generator file `text` names: a file, a run folder or a run's name (its generator.pt, or its
    best_generator.pt with `best`), or a shipped generator's name."""
    from dcgan.paths import runs_root
    from dcgan.runs.catalog import shipped_generators

    name = "best_generator.pt" if best else "generator.pt"
    path = Path(text)
    if path.is_file():
        return path
    for folder in (path, runs_root(runs_dir) / text):
        if (folder / "config.json").exists():
            if not (folder / name).exists():
                raise FileNotFoundError(
                    f"run {folder.name} has no {name} yet: generator.pt is written when the run finishes or is "
                    "stopped, best_generator.pt when a quality score improves"
                )
            return folder / name
    shipped = {found["name"]: found["path"] for found in shipped_generators()}
    if text in shipped:
        return shipped[text]
    raise FileNotFoundError(
        f"no generator {text!r}: give a .pt file, a run (`python -m dcgan runs` lists them) or a shipped "
        f"generator ({', '.join(shipped) or 'none shipped'})"
    )


def _progress(label: str):
    """A progress(done, total) callback drawing a terminal bar with an ETA."""
    bar: list[ProgressBar] = []
    start = time.perf_counter()

    def update(done: int, total: int) -> None:
        if not bar:
            bar.append(ProgressBar(total, label))
        elapsed = time.perf_counter() - start
        bar[0].update(done, eta_s=elapsed / done * (total - done) if done else None, force=done >= total)
        if done >= total:
            bar[0].close()

    return update


def _classifier(meta: dict):
    from dcgan.latent.real_images import classifier_of_generator

    found = classifier_of_generator(meta)
    if isinstance(found, str):
        raise ConfigError(found)
    return found


def _save_png(output: str, images, columns: int) -> None:
    from dcgan.fileio import atomic_save_image
    from dcgan.images import image_grid

    atomic_save_image(output, image_grid(images, columns=columns))
    print(f"wrote {output}")


def run(args: argparse.Namespace) -> int:
    from dcgan.cli import check_runs_dir
    from dcgan.latent.explore import prepare_for_exploring
    from dcgan.runs.generator_file import load_generator

    for flag in ("count", "samples", "images", "steps"):
        if getattr(args, flag, 1) < 1:
            raise ConfigError(f"--{flag} must be at least 1, not {getattr(args, flag)}")
    output = getattr(args, "output", None)
    if output and Path(output).suffix.lower() != OUTPUT_SUFFIX[args.tool]:
        raise ConfigError(f"-o {output}: the file name must end in {OUTPUT_SUFFIX[args.tool]}")
    if output and not Path(output).parent.is_dir():
        raise ConfigError(f"-o {output}: the folder {Path(output).parent} does not exist")
    if args.tool in ("truncation", "map") and not 0 <= args.psi <= 1:
        raise ConfigError(f"--psi must be from 0 to 1, not {args.psi}")
    if args.seed is None and args.tool != "map":  # the map keeps the page's own z (MapConfig.seed)
        args.seed = 0
    check_runs_dir(args.runs_dir)
    path = resolve_generator(args.generator, args.runs_dir, args.best)
    G, meta = load_generator(path)
    note = prepare_for_exploring(G)
    print(f"{path}: {meta.get('dataset')}, step {meta.get('step')}" + (f" ({note})" if note else ""))
    tools = {
        "directions": _directions,
        "class-direction": _class_direction,
        "truncation": _truncation,
        "map": _map,
        "memorisation": _memorisation,
    }
    return tools[args.tool](args, G, meta, path)


def _directions(args, G, meta, path) -> int:
    import torch

    from dcgan.latent.directions import direction_strip, pca_set, sefa_directions
    from dcgan.latent.explore import principal_directions
    from dcgan.models import seeded_z

    found = sefa_directions(G, args.count) if args.family == "sefa" else pca_set(principal_directions(G))
    print(f"{found.family}:")
    for label in found.labels[: args.count]:
        print(f"  {label}")
    if args.output:
        z = seeded_z(args.seed, 1, G.cfg.z_dim)[0]
        strips = [direction_strip(G, z, d) for d in found.directions[: args.count]]
        _save_png(args.output, torch.cat(strips), columns=len(strips[0]))
    return 0


def _class_direction(args, G, meta, path) -> int:
    import torch

    from dcgan.data.registry import dataset_info
    from dcgan.latent.class_directions import CLASS_SPAN, conditional_direction, fit_class_directions, moved_histogram
    from dcgan.latent.explore import generate
    from dcgan.models import seeded_z

    classifier = _classifier(meta)
    classes = dataset_info(meta["dataset"]).classes
    if not 0 <= args.to < classes:
        raise ConfigError(f"--to must be a class from 0 to {classes - 1}, not {args.to}")
    fitted = fit_class_directions(G, classifier.model, progress=_progress("fitting"))
    others = [c for c in range(classes) if c != args.to]
    direction = conditional_direction(fitted.normals, args.to, others) if args.conditional else fitted.normals[args.to]
    amount = CLASS_SPAN if args.amount is None else args.amount
    z = seeded_z(args.seed, 500, G.cfg.z_dim)
    before = moved_histogram(G, classifier.model, z, direction, 0.0, classes)
    after = moved_histogram(G, classifier.model, z, direction, amount, classes)
    kind = "conditional " if args.conditional else ""
    print(f"the {kind}direction toward {args.to} (boundary right for {fitted.accuracy[args.to]:.1%} of its fit):")
    print("class   " + " ".join(f"{c:>5}" for c in range(classes)))
    print("before  " + " ".join(f"{v:>5.0%}" for v in before.tolist()))
    print(f"{f'{amount:+g}σ':<8}" + " ".join(f"{v:>5.0%}" for v in after.tolist()))
    print(f"read as {args.to}: {before[args.to]:.0%} -> {after[args.to]:.0%} of {len(z)} samples")
    if args.output:
        images = torch.cat([generate(G, z[:8]), generate(G, z[:8] + amount * direction)])
        _save_png(args.output, images, columns=8)
    return 0


def _truncation(args, G, meta, path) -> int:
    from dcgan.errors import DatasetUnavailable
    from dcgan.latent.truncation import TruncationConfig, describe_change, measure_truncation, real_reference

    model = _classifier(meta).model
    try:
        real = real_reference(model, _real(meta, path, G, 1, TruncationConfig().real).held_out)
    except (DatasetUnavailable, ValueError, OSError) as err:
        print(f"note: no real images to measure precision and recall with: {err}")
        real = None
    plain, truncated = (measure_truncation(G, model, psi, real) for psi in (1.0, args.psi))
    print(describe_change(plain, truncated))
    return 0


def _map(args, G, meta, path) -> int:
    from dcgan.fileio import atomic_write_bytes
    from dcgan.latent.sample_map import MapConfig, build_map

    model = _classifier(meta).model
    cfg = MapConfig(method=args.method, psi=args.psi, **({} if args.seed is None else {"seed": args.seed}))
    real = _real(meta, path, G, cfg.real, 1).train if args.real else None
    found = build_map(G, model, cfg, real, _progress("mapping (work units)"))
    agreement = found.agreement.get(found.method)
    if agreement is not None:
        print(
            f"{found.method}: for {agreement:.1%} of the samples most of their {found.neighbours} nearest map "
            "neighbours are read as the same class"
        )
    lines = ["kind,index,x,y,class_read,confidence"]
    for i, (xy, c, p) in enumerate(zip(found.coords.tolist(), found.predicted.tolist(), found.confidence.tolist())):
        lines.append(f"sample,{i},{xy[0]:.4f},{xy[1]:.4f},{c},{p:.3f}")
    for i, xy in enumerate(found.real_coords.tolist() if found.real_coords is not None else []):
        lines.append(f"real,{i},{xy[0]:.4f},{xy[1]:.4f},,")
    atomic_write_bytes(args.output, ("\n".join(lines) + "\n").encode())
    print(
        f"wrote {len(lines) - 1} points placed by {found.method} to {args.output}; sample i is row i of "
        f"dcgan.models.seeded_z({cfg.seed}, {cfg.samples}, {G.cfg.z_dim})"
        f"{'' if cfg.psi == 1 else f', drawn at truncation ψ = {cfg.psi:g}'}"
    )
    return 0


def _real(meta, path, G, train: int, held_out: int):
    from dcgan.latent.real_images import real_images_of

    return real_images_of(meta, path, G.cfg.image_size, G.cfg.channels, train, held_out)


def _memorisation(args, G, meta, path) -> int:
    from dcgan.latent.memorisation import (
        HELD_OUT_IMAGES,
        MemorisationConfig,
        NearestPoolConfig,
        nearest_pool_test,
        reconstruction_gap,
    )

    pools = NearestPoolConfig(samples=args.samples, seed=args.seed)
    real = _real(meta, path, G, 0, HELD_OUT_IMAGES)
    print(f"training images: {real.source}; held out: {len(real.held_out):,} test images")
    if not real.exact:
        raise ConfigError("cannot check copying without the images this generator was trained on (see above)")
    print(nearest_pool_test(G, real.train, real.held_out, pools, _progress("samples")).verdict())
    if not args.no_projection:
        cfg = MemorisationConfig(images=args.images, steps=args.steps, seed=args.seed)
        print(reconstruction_gap(G, real.train, real.held_out, cfg, _progress("projecting")).verdict())
    return 0
