"""`make imagenet-smoke`: one §5.3 model end to end on 100 real ImageNet JPEGs, in minutes.

    python -m scripts.imagenet_smoke [--sample imagenet-sample-100.tar] [--work .smoke]
                                     [--experiment sec53_birealnet]

Builds a manual download in the real ILSVRC-2012 layout from the sample (one JPEG for
every tenth class; ``tests/fake_imagenet.py``), lets TFDS's own ``imagenet2012`` builder
prepare it offline, and trains the experiment at the ``tiny`` scale through the same
command line a real run uses. Everything goes under ``--work`` (not ``results/``): the
numbers of a 40-image run mean nothing, only that the path works.
"""
import argparse
import os
import sys

from experiments.cli import main as cli
from tests.fake_imagenet import SAMPLE_TAR, write_fake_imagenet_manual_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default=SAMPLE_TAR)
    parser.add_argument("--work", default=".smoke")
    parser.add_argument("--experiment", default="sec53_birealnet")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.sample):
        print(f"error: the ImageNet sample {args.sample} does not exist; give "
              "--sample path/to/imagenet-sample-100.tar (make: IMAGENET_SAMPLE=...)",
              file=sys.stderr)
        return 2
    manual = os.path.join(args.work, "manual")
    if not os.path.exists(os.path.join(manual, "ILSVRC2012_img_val.tar")):
        write_fake_imagenet_manual_dir(manual, sample_tar=args.sample)
    return cli(["run", args.experiment, "scale=tiny", f"data_dir={args.work}/tfds",
                f"imagenet_dir={manual}", f"results_dir={args.work}/runs"])


if __name__ == "__main__":
    sys.exit(main())
