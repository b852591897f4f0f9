"""tfpc: perceptually optimized learned image compression (TensorFlow 2)."""

import sys

import setuptools

if sys.version_info[:2] != (3, 11):
  sys.exit("tfpc needs Python 3.11: its pinned stack (tensorflow 2.14 with "
           "tensorflow-compression 2.14) has wheels for it. Create the venv "
           "with python3.11.")

setuptools.setup(
    name="tfpc",
    version="0.1.0",
    description="Perceptually optimized learned image compression on TF 2.",
    python_requires="==3.11.*",
    packages=setuptools.find_packages(include=["tfpc", "tfpc.*"]),
    package_data={"tfpc": ["shipped_weights/*", "evaluation/report/*"]},
    scripts=["bin/tfpc_compress", "bin/tfpc_decompress", "bin/tfpc_demo",
             "bin/tfpc_export", "bin/tfpc_eval", "bin/tfpc_floors",
             "bin/tfpc_plot_scores", "bin/tfpc_pretrain_proxy",
             "bin/tfpc_train", "bin/tfpc_weights"],
    install_requires=[
        "tensorflow==2.14.1",
        "tensorflow-compression==2.14.1",
        "tensorflow-probability>=0.22,<0.23",
        "tensorflow-addons==0.23.*",
        "keras>=2.14,<2.15",
        "numpy<2",
        "pillow",
        "absl-py",
        "imageio-ffmpeg",
        "scikit-image",
        "scipy",
        "tqdm",
        "matplotlib",
        "bjontegaard==1.3.*",
        "ml-collections>=1.0",
        "constriction>=0.4",
    ],
    extras_require={
        "test": ["pytest", "pytest-timeout", "pytest-xdist", "hypothesis"],
    },
)
