"""`make imagenet-smoke`: one ImageNet experiment end to end on 100 real JPEGs, in minutes.

    python -m scripts.imagenet_smoke [--sample imagenet-sample-100.tar] [--work .smoke]
                                     [--experiment sec53_birealnet]

``--experiment`` (make: ``SMOKE_EXPERIMENT=``) is any ImageNet experiment: §5.3's or
Bop2ndOrder's (``sec53_xnornet_bop2ndorder``, ``sec53_birealnet_bop2ndorder``).

Builds a manual download in the real ILSVRC-2012 layout from the sample (one JPEG for
every tenth class; ``experiments/fakes/imagenet.py``), lets TFDS's own ``imagenet2012`` builder
prepare it offline, and trains the experiment at the ``tiny`` scale through the same
command line a real run uses. Everything goes under ``--work`` (not ``results/``): the
numbers of a 40-image run mean nothing, only that the path works.
"""
import argparse
import os
import sys

from experiments import registry
from experiments.cli import main as cli
from experiments.datasets.imagenet import ImageNet
from experiments.fakes.imagenet import SAMPLE_TAR, write_fake_imagenet_manual_dir


def on_imagenet(name: str) -> bool:
    cls = registry.load().experiments.get(name)
    return cls is not None and isinstance(cls().dataset, ImageNet)


def imagenet_experiments() -> list:
    return [name for name in registry.load().experiments if on_imagenet(name)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default=SAMPLE_TAR)
    parser.add_argument("--work", default=".smoke")
    parser.add_argument("--experiment", default="sec53_birealnet")
    args = parser.parse_args(argv)
    if not on_imagenet(args.experiment):
        print(f"error: --experiment {args.experiment!r} is not an ImageNet experiment; choose "
              f"one of {', '.join(imagenet_experiments())}", file=sys.stderr)
        return 2
    if not os.path.isfile(args.sample):
        print(f"error: the ImageNet sample {args.sample} does not exist; give "
              "--sample path/to/imagenet-sample-100.tar (make: IMAGENET_SAMPLE=...)",
              file=sys.stderr)
        return 2
    manual = os.path.join(args.work, "manual")
    if not os.path.exists(os.path.join(manual, "ILSVRC2012_img_val.tar")):
        write_fake_imagenet_manual_dir(manual, sample_tar=args.sample)
    return cli(["run", args.experiment, "scale=tiny", f"data_dir={args.work}/tfds",
                f"dataset.manual_dir={manual}", f"results_dir={args.work}/runs"])


if __name__ == "__main__":
    sys.exit(main())
