from setuptools import find_packages, setup

setup(
    name="keypoint-hub",
    version="0.1.0",
    description="A PaddleHub-style hub of keypoint detection modules on ONNX Runtime",
    packages=find_packages(include=["hub_core", "hub_core.*", "serving", "serving.*"]),
    package_data={"serving": ["static/*"], "hub_core": ["schemas/*.json"]},
    python_requires=">=3.9",
    install_requires=["onnxruntime>=1.16", "onnx>=1.16", "opencv-python-headless>=4.8", "numpy>=1.23", "tqdm>=4.60",
                      "flask>=2.3", "gunicorn>=21"],
    extras_require={"test": ["pytest>=7", "requests>=2.28", "pycocotools>=2.0.7", "playwright>=1.40"],
                    # hub finetune: a CPU torch build here (any other torch spec pulls GBs of CUDA wheels)
                    "train": ["torch==2.13.0", "onnx>=1.16"]},
    entry_points={"console_scripts": ["hub=hub_core.cli:main"]},
)
