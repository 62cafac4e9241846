"""Tiny stand-ins for the real data, in the real formats, so that the suite's own
preparation code runs on them unchanged: a CIFAR-10 archive of random images in the
binary format (``cifar10``) and an ILSVRC-2012 manual download built from 100 real JPEGs
(``imagenet``). Used by the tests, ``make bench``'s ImageNet part without a prepared
dataset, and ``make imagenet-smoke`` (each dataset's ``tiny_data``)."""
