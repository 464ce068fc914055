"""KFP components, one per stage: thin wrappers that call ``alseg.stages`` inside the body.

Images (built by ``make images``): CPU stages run in ``CPU_IMAGE``, network stages in ``GPU_IMAGE``.
Override with ``ALSEG_CPU_IMAGE`` / ``ALSEG_GPU_IMAGE`` at compile time.
"""

import os

VERSION = "0.1.0"
CPU_IMAGE = os.environ.get("ALSEG_CPU_IMAGE", f"ghcr.io/alseg/alseg-python-cpu:{VERSION}")
GPU_IMAGE = os.environ.get("ALSEG_GPU_IMAGE", f"ghcr.io/alseg/alseg-python-gpu:{VERSION}")
