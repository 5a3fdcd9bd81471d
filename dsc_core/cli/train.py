"""`dsc train`: cluster the days of a dataset and write a run directory."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import replace
from pathlib import Path

from dsc_core.errors import ConfigError

SCORES = (
    ("silhouette_cosine", "silhouette (cosine) ↑"),
    ("davies_bouldin", "Davies-Bouldin ↓"),
    ("calinski_harabasz", "Calinski-Harabasz ↑"),
    ("rmse", "RMSE ↓"),
)


def _number(value: str, name: str, kind: type, what: str):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {what}, got {value!r}") from None


def parse_int(value: str, name: str) -> int:
    """``value`` as an int, else a one-line ConfigError naming option ``name``."""
    return _number(value, name, int, "an integer")


def parse_float(value: str, name: str) -> float:
    """``value`` as a number, else a one-line ConfigError naming option ``name``."""
    return _number(value, name, float, "a number")


def parse_list(value: str | None) -> list[str] | None:
    """``"a,b, c"`` → ``["a", "b", "c"]``; None or empty → None."""
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return items or None


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``"lat_min,lat_max,lon_min,lon_max"`` → a 4-tuple of floats."""
    if value is None:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise ConfigError(
            f"--bbox must be lat_min,lat_max,lon_min,lon_max in degrees, got {value!r}"
        )
    return parts


def add_selection_arguments(
    p: argparse.ArgumentParser, clusters: tuple[str, str] = ("4", "number of clusters (default 4)")
) -> None:
    """Options shared by `dsc train`, `dsc benchmark` and `dsc choose-k`: data, selection, K
    (``clusters``: its default and help), model settings, seasonal-cycle removal."""
    p.add_argument("--data", default="sample", help='"sample" or a file/folder/glob')
    p.add_argument(
        "--threads",
        metavar="N",
        help="threads of the training and the numerical libraries (default: every core; "
        "results repeat for a given N)",
    )
    p.add_argument("--variables", help="comma-separated names, e.g. sst,t2m (default: all)")
    p.add_argument("--start", help="first day, YYYY-MM-DD (default: the data's first)")
    p.add_argument("--end", help="last day, YYYY-MM-DD, inclusive (default: the data's last)")
    p.add_argument(
        "--months",
        help="season or months to cluster: DJF, MAM, JJA, SON or e.g. 12,1,2 (default: all "
        "year); the seasonal cycle is removed using the whole period first",
    )
    p.add_argument("--level", help="vertical level when the data have several, e.g. 500 (hPa)")
    p.add_argument("--bbox", help="lat_min,lat_max,lon_min,lon_max in degrees (default: all)")
    p.add_argument("--clusters", default=clusters[0], metavar="K", help=clusters[1])
    p.add_argument("--window", metavar="W", help="odd number of days the RNN reads")
    p.add_argument("--preset", default="default", help="model size: default, paper, fast")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--precision",
        default="32",
        help="training precision of the deep methods: 32 (default), bf16 or 16 (CUDA)",
    )
    p.add_argument(
        "--max-minutes",
        metavar="M",
        help="time budget of each deep training: its phases end early at an epoch's end",
    )
    p.add_argument(
        "--deseasonalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="remove the smoothed seasonal cycle first (default: yes)",
    )
    p.add_argument(
        "--score-space",
        default="anomalies",
        help="the paper's internal scores on 'anomalies' (what is clustered; default) or on "
        "the raw fields as the paper did ('paper')",
    )
    p.add_argument(
        "--area-weighting",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="weight grid cells by √cos(latitude), i.e. by area (default: yes)",
    )


def add_parsers(subparsers) -> None:
    """Register `dsc train`."""
    p = subparsers.add_parser(
        "train",
        help="cluster days and write a run directory",
        description="Cluster the days of a dataset and write a run directory "
        "(labels, composites, metrics, model).",
    )
    add_selection_arguments(p)
    p.add_argument("--method", default="dsc", help="dsc (default), kmeans, pca-gmm, ...")
    p.add_argument("--seed", default="0", help="random seed (default 0)")
    p.add_argument(
        "--min-spell",
        default="1",
        metavar="N",
        help="spells shorter than N days join a neighbouring regime (default 1: off)",
    )
    p.add_argument(
        "--check-stability",
        action="store_true",
        help="also train with seed + 1 and report seed agreement beside k-means' (twice the time)",
    )
    p.add_argument(
        "--significance",
        default="0",
        metavar="N",
        help="also cluster N red-noise surrogates and rank the run among them (N more fits)",
    )
    p.add_argument(
        "--memory-budget",
        default="0.25",
        metavar="GB",
        help="preprocessed days kept in memory (default 0.25 GB); more go to a Zarr store in "
        "$DSC_SCRATCH (or the temporary folder), read in blocks and removed after the run",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training across the processes torchrun starts "
        "(torchrun --nproc-per-node=N -m dsc_core.cli train ... --distributed); rank 0 writes",
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=train_command)


class Progress:
    """A tqdm bar per training phase, fed by :class:`dsc_core.training.Event` objects."""

    def __init__(self, disable: bool = False):
        self.disable = disable
        self.bar = None
        self.phase: str | None = None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if event.n_epochs <= 0:
            self.close()
            if not self.disable:
                tqdm.write(f"[{event.phase}] {event.message}".rstrip(), file=sys.stderr)
            return
        if event.phase != self.phase or self.bar is None:
            self.close()
            self.phase = event.phase
            self.bar = tqdm(
                total=event.n_epochs,
                desc=event.phase,
                unit="epoch" if event.phase in ("pretrain", "joint") else "block",
                file=sys.stderr,
                disable=self.disable,
                leave=True,
            )
        post = {k: f"{v:.4g}" for k, v in event.losses.items()}
        if event.changed is not None:
            post["changed"] = f"{event.changed:.1%}"
        if event.eta is not None:
            post["eta"] = f"{event.eta:.0f}s"
        self.bar.n = min(event.epoch, event.n_epochs)
        self.bar.set_postfix(post, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.phase = None, None


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def summary_text(run) -> str:
    """A few lines: where the run is, timings, scores beside the k-means reference."""
    from dsc_core.data.calendar import months_text

    m = run.metrics
    ref = m.get("reference") or {}
    lines = [
        f"run {run.name} written to {run.path}",
        f"  files: {', '.join(sorted(p.name for p in Path(run.path).iterdir()))}",
        f"  {run.config.method}, K={run.config.clusters}, {m['n_days']} days "
        f"({months_text(run.config.months)}), "
        f"fit {m['fit_seconds']:.1f} s, total {m['total_seconds']:.1f} s",
        f"  {'score':24s} {run.config.method:>10s} {'k-means':>10s}",
    ]
    rows = [(label, m["internal"].get(key), ref["internal"].get(key)) for key, label in SCORES]
    if m.get("truth"):
        rows += [
            ("ARI vs truth ↑", m["truth"]["ari"], ref["truth"]["ari"]),
            ("NMI vs truth ↑", m["truth"]["nmi"], ref["truth"]["nmi"]),
        ]
    lines += [f"  {label:24s} {_fmt(a):>10s} {_fmt(b):>10s}" for label, a, b in rows]
    trust = m.get("trust") or {}
    rows = [(f"agreement with {n}", a, None) for n, a in (trust.get("agreement") or {}).items()]
    if trust.get("seed_agreement") is not None:
        rows.append(
            ("seed agreement ↑", trust["seed_agreement"], trust.get("kmeans_seed_agreement"))
        )
    if trust.get("head_agreement") is not None:
        rows.append(("candidate heads agree ↑", trust["head_agreement"], None))
    if trust.get("year_agreement") is not None:
        rows.append(("agreement with years ↓", trust["year_agreement"], None))
    lines += [f"  {label:24s} {_fmt(a):>10s} {_fmt(b):>10s}" for label, a, b in rows]
    if trust.get("years_removed") is not None:
        lines.append(
            f"  DSC's first clusters followed the years (ARI {trust['years_removed']:.2f}): it "
            "trained again on the days less each year's mean"
        )
    structure = trust.get("structure")
    if structure:
        lines.append(
            f"  data vs red noise: k-means clusters above {structure['percentile']:.0f} % of "
            f"{structure['n_surrogates']} red-noise surrogates"
        )
    reg = m["regimes"]
    lines.append(
        "  frequency: "
        + ", ".join(f"{c}: {f:.0%}" for c, f in enumerate(reg["frequency"]))
        + f"; mean spell {reg['mean_spell_overall']:.1f} days"
        + (
            f" ({m['regimes_unfiltered']['mean_spell_overall']:.1f} before --min-spell)"
            if m.get("regimes_unfiltered")
            else ""
        )
    )
    if run.config.min_spell > 1:
        lines.append(
            f"  (scores after --min-spell {run.config.min_spell}; the k-means reference and "
            "the agreement are unfiltered)"
        )
    sig = m.get("significance")
    if sig:
        lines.append(
            f"  regimes vs red noise: explained variance {sig['statistic']:.3f}, above "
            f"{sig['percentile']:.0f} % of {sig['n_surrogates']} red-noise clusterings"
        )
    if trust.get("seed_agreement") is None and run.config.method != "kmeans":
        lines.append("  (seed agreement not checked: add --check-stability)")
    lines += [f"WARNING: {w}" for w in trust.get("warnings", [])]
    return "\n".join(lines)


def config_from_args(args: argparse.Namespace, method: str):
    """The :class:`dsc_core.pipeline.RunConfig` of parsed `dsc train` options."""
    from dsc_core.data.calendar import parse_months
    from dsc_core.pipeline import RunConfig

    return RunConfig(
        data=args.data,
        variables=parse_list(args.variables),
        start=args.start,
        end=args.end,
        months=parse_months(args.months),
        level=None if args.level is None else parse_float(args.level, "--level"),
        bbox=parse_bbox(args.bbox),
        clusters=parse_int(args.clusters, "--clusters"),
        method=method,
        window=None if args.window is None else parse_int(args.window, "--window"),
        deseasonalize=args.deseasonalize,
        area_weighting=args.area_weighting,
        score_space=args.score_space,
        preset=args.preset,
        seed=parse_int(getattr(args, "seed", "0"), "--seed"),
        device=args.device,
        min_spell=parse_int(getattr(args, "min_spell", "1"), "--min-spell"),
        surrogates=parse_int(getattr(args, "significance", "0"), "--significance"),
        check_stability=getattr(args, "check_stability", False),
        memory_budget=parse_float(getattr(args, "memory_budget", "0.25"), "--memory-budget"),
        params=estimator_options(args),
    )


def estimator_options(args: argparse.Namespace) -> dict:
    """RunConfig.params from the options every deep method takes: precision, time budget."""
    options: dict = {"precision": args.precision} if args.precision != "32" else {}
    if args.max_minutes is not None:
        options["max_minutes"] = parse_float(args.max_minutes, "--max-minutes")
    return options


def train_command(args: argparse.Namespace) -> int:
    from dsc_core.pipeline import run
    from dsc_core.runs import CONFIG_FILE, save_run

    config = config_from_args(args, args.method).validate()
    out = Path(args.out)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / CONFIG_FILE).is_file())
    ):
        raise ConfigError(f"--out {out} exists and is not a run directory: choose another path")
    with process_group(args.distributed, config) as (rank, config):
        progress = Progress(disable=args.quiet or rank > 0)
        try:
            result = run(config, callbacks=[progress])
        finally:
            progress.close()
        if rank == 0:
            save_run(result, out)
            print(summary_text(result))
    return 0


@contextlib.contextmanager
def process_group(distributed: bool, config):
    """``(rank, config)`` inside: with ``distributed``, this process joins the group torchrun
    describes in its environment (NCCL on CUDA, each rank on its own GPU; gloo on CPU), and
    leaves it after; without, rank 0 alone."""
    if not distributed:
        yield 0, config
        return
    import os

    import torch
    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise ConfigError("--distributed needs torchrun: torchrun --nproc-per-node=N -m "
                          "dsc_core.cli train ... --distributed")  # fmt: skip
    cuda = torch.cuda.is_available() and config.device != "cpu"
    if cuda:
        config = replace(config, device=f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield dist.get_rank(), config
    finally:
        dist.destroy_process_group()
