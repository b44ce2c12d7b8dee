"""ONNX graph -> Paddle inference model (`<prefix>.pdmodel` + `<prefix>.pdiparams`) with x2paddle.

x2paddle 1.6.0 needs onnx 1.14 and numpy 1, which this package's own onnx/numpy cannot be, so it runs in
a virtual environment of its own (`python -m hub_core.paddle_convert setup`, or created on the first
conversion). That environment writes with paddlepaddle 2.6.2: its legacy `.pdmodel` programs load in
Paddle Inference 2.6 (the `paddlepaddle-gpu` on PyPI) and 3.x alike, where Paddle 3 would write `.json`.
The graph converted is the one the engine runs: weights out of the inputs and, when that gives the same
outputs, a batch-1 export made batchable (graph.py).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from . import store
from .graph import decompose_prelu, drop_weight_inputs, with_dynamic_batch

CONVERTER_REQUIREMENTS = ["x2paddle==1.6.0", "onnx==1.14.1", "paddlepaddle==2.6.2", "numpy<2", "six", "requests"]
RECIPE = 1  # bumped when the conversion (rewrites, converter) changes, so cached conversions are redone


# x2paddle's command line, with one fix: x2paddle 1.6.0 compares layer attributes with == to drop the defaults,
# which raises for array attributes (Squeeze axes given as an input, opset >= 13: MediaPipe's hand landmark).
X2PADDLE = """
import sys
import numpy as np
import x2paddle.core.program as program
_remove_default_attrs = program.remove_default_attrs
def remove_default_attrs(kernel, attrs):
    for key, value in attrs.items():
        if isinstance(value, np.ndarray):
            attrs[key] = value.tolist()
    return _remove_default_attrs(kernel, attrs)
program.remove_default_attrs = remove_default_attrs
from x2paddle.convert import main
main()
"""


class ConversionError(RuntimeError):
    pass


def converter_env():
    """Folder of the converter's virtual environment: HUB_X2PADDLE_ENV, else a per-user cache (not
    under HUB_HOME: about 1 GB, shared by every hub home)."""
    env = os.environ.get("HUB_X2PADDLE_ENV")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "keypoint_hub" / "x2paddle-1.6.0"


def converter_python():
    return converter_env() / "bin" / "python"


def converter_ready():
    return (converter_env() / "READY").is_file()


def setup_converter(log=sys.stderr):
    """Create the converter environment (pip from the configured index; a few minutes, about 1 GB)."""
    env = converter_env()
    if converter_ready():
        return env
    shutil.rmtree(env, ignore_errors=True)  # a half-made one from an interrupted setup
    print(f"hub: creating the ONNX -> Paddle converter environment in {env} ({' '.join(CONVERTER_REQUIREMENTS)})",
          file=log)
    for cmd in ([sys.executable, "-m", "venv", str(env)],
                [str(converter_python()), "-m", "pip", "install", "-q", *CONVERTER_REQUIREMENTS]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise ConversionError(f"creating the converter environment failed ({' '.join(cmd[:4])} ...):\n"
                                  + done.stderr[-2000:])
    (env / "READY").write_text("\n".join(CONVERTER_REQUIREMENTS) + "\n")
    return env


def engine_graph(onnx_path):
    """The ONNX graph as the engine runs it on CPU, minus PRelu decomposition (Paddle has a fast PRelu)."""
    from .engine import OnnxModel

    model = onnx.load(str(onnx_path))
    drop_weight_inputs(model)
    first = model.graph.input[0].type.tensor_type.shape.dim[0]
    if first.HasField("dim_value") and first.dim_value == 1 and OnnxModel(onnx_path, threads=1).fixed_batch is None:
        model = with_dynamic_batch(model)  # OnnxModel checked it against single runs
    for rewrite in (per_channel_prelu, channel_pad_as_conv, resize_for_x2paddle, hardswish_as_hardsigmoid,
                    identifier_names):
        rewrite(model)
    return model


def per_channel_prelu(model):
    """PRelu with 4-D slopes (1, C, 1, 1) -> a*x + (1-a)*Relu(x) (graph.decompose_prelu), in place: x2paddle
    1.6.0 maps only 1-D and (C, 1, 1) slopes (tf2onnx writes 4-D ones: MediaPipe's palm detector)."""
    weights = {i.name: i for i in model.graph.initializer}
    if any(n.op_type == "PRelu" and len(getattr(weights.get(n.input[1]), "dims", ())) == 4 for n in model.graph.node):
        decompose_prelu(model)


def channel_pad_as_conv(model):
    """Zero-padding of the channels of an NCHW tensor -> a 1x1 convolution with 0/1 weights (exactly equal),
    in place: x2paddle 1.6.0 turns an 8-value Pad into a spatial Pad2D (MediaPipe's palm detector)."""
    weights = {i.name: i for i in model.graph.initializer}
    channels = {v.name: v.type.tensor_type.shape.dim[1].dim_value
                for v in shape_inference.infer_shapes(model).graph.value_info if len(v.type.tensor_type.shape.dim) == 4}
    nodes = []
    for node in model.graph.node:
        pads = numpy_helper.to_array(weights[node.input[1]]) if (
            node.op_type == "Pad" and len(node.input) == 2 and node.input[1] in weights) else None
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
        c = channels.get(node.input[0], 0) if pads is not None else 0
        if pads is None or len(pads) != 8 or mode != b"constant" or not c or np.delete(pads, [1, 5]).any():
            nodes.append(node)
            continue
        kernel = np.zeros((c + pads[1] + pads[5], c, 1, 1), np.float32)
        kernel[pads[1] + np.arange(c), np.arange(c)] = 1
        name = f"{node.output[0]}/channel_pad_kernel"
        model.graph.initializer.append(numpy_helper.from_array(kernel, name))
        nodes.append(helper.make_node("Conv", [node.input[0], name], [node.output[0]], name=node.name, kernel_shape=[1, 1]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def resize_for_x2paddle(model):
    """Resize nodes as x2paddle 1.6.0 maps them correctly, in place (the same outputs):
    - inputs read by position: trailing empty inputs dropped, inner ones made empty constants (which ONNX
      reads as 'not given'), as x2paddle skips empty names (OpenVINO-converted PP-TinyPose);
    - linear 'half_pixel' -> 'pytorch_half_pixel', the same wherever an output side is longer than 1 (the
      upsampling here), since x2paddle maps 'half_pixel' to align_corners=True (MediaPipe's palm detector)."""
    empty = "x2paddle_empty_input"
    used = False
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        names = list(node.input)
        while names and not names[-1]:
            names.pop()
        used |= "" in names
        del node.input[:]
        node.input.extend([n or empty for n in names])
        attrs = {a.name: a for a in node.attribute}
        mode = attrs["mode"].s if "mode" in attrs else b"nearest"
        if mode == b"linear" and attrs.get("coordinate_transformation_mode", helper.make_attribute("c", b"half_pixel")).s \
                == b"half_pixel" and upsamples(model, node):
            kept = [a for a in node.attribute if a.name != "coordinate_transformation_mode"]
            del node.attribute[:]
            node.attribute.extend(kept)
            node.attribute.append(helper.make_attribute("coordinate_transformation_mode", "pytorch_half_pixel"))
    if used:
        model.graph.initializer.append(numpy_helper.from_array(np.zeros(0, np.float32), empty))


def upsamples(model, node):
    """A Resize whose constant scales are all >= 1 (so every output side is longer than 1 once the input's is)."""
    weights = {i.name: i for i in model.graph.initializer}
    scales = weights.get(node.input[2]) if len(node.input) > 2 else None
    return scales is not None and bool((numpy_helper.to_array(scales) >= 1).all())


def hardswish_as_hardsigmoid(model):
    """HardSwish(x) -> x * HardSigmoid(x, alpha=1/6, beta=0.5), its ONNX definition, in place: x2paddle 1.6.0
    has no HardSwish (PP-PicoDet)."""
    nodes = []
    for node in model.graph.node:
        if node.op_type != "HardSwish":
            nodes.append(node)
            continue
        gate = f"{node.output[0]}/hard_sigmoid"
        nodes += [helper.make_node("HardSigmoid", [node.input[0]], [gate], alpha=1 / 6, beta=0.5),
                  helper.make_node("Mul", [node.input[0], gate], [node.output[0]])]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def identifier_names(model):
    """Every tensor name made a Python identifier, in place: x2paddle writes the graph as Python code with
    the tensor names as variables (decompose_prelu's names, e.g. 'relu*(1-a)', are not)."""
    names = {name for node in model.graph.node for name in list(node.input) + list(node.output)}
    names |= {v.name for v in list(model.graph.input) + list(model.graph.output) + list(model.graph.initializer)}
    renamed, taken = {}, set(names)
    for name in sorted(n for n in names if n and not n.isidentifier()):
        new = re.sub(r"\W", "_", name)
        new = new if new[0].isalpha() or new[0] == "_" else f"t_{new}"
        while new in taken:
            new += "_"
        renamed[name] = new
        taken.add(new)
    for node in model.graph.node:
        for field in (node.input, node.output):
            names = [renamed.get(n, n) for n in field]
            del field[:]
            field.extend(names)
    for value in list(model.graph.input) + list(model.graph.output) + list(model.graph.initializer):
        value.name = renamed.get(value.name, value.name)


def convert(onnx_path, prefix):
    """Write <prefix>.pdmodel and <prefix>.pdiparams from an ONNX file; returns the .pdmodel path.
    Raises ConversionError naming the graph when x2paddle cannot convert it."""
    onnx_path, prefix = Path(onnx_path), Path(prefix)
    setup_converter()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=prefix.parent, prefix=".x2paddle-") as tmp:
        graph = Path(tmp) / onnx_path.name
        onnx.save(engine_graph(onnx_path), str(graph))
        out = Path(tmp) / "out"
        done = subprocess.run([str(converter_python()), "-c", X2PADDLE, "--framework", "onnx",
                               "--model", str(graph), "--save_dir", str(out), "--disable_feedback", "True"],
                              capture_output=True, text=True, timeout=900, cwd=tmp)
        program = out / "inference_model" / "model.pdmodel"
        if done.returncode or not program.is_file():
            detail = "\n".join((done.stdout + done.stderr).replace("Converting node", "\nConverting node")
                               .splitlines()[-12:])
            raise ConversionError(f"{onnx_path.name}: x2paddle 1.6.0 could not convert this graph:\n{detail}")
        os.replace(program, prefix.with_suffix(".pdmodel"))
        os.replace(out / "inference_model" / "model.pdiparams", prefix.with_suffix(".pdiparams"))
    verify(onnx_path, prefix.with_suffix(".pdmodel"))
    return prefix.with_suffix(".pdmodel")


def verify(onnx_path, program):
    """Raise ConversionError when the Paddle model's outputs differ from ONNX Runtime's on a probe batch
    (x2paddle maps some operators wrongly; the rewrites above fix those found). Needs Paddle Inference
    here; without it the check is left to the first load."""
    try:
        import paddle.inference  # noqa: F401
    except ImportError:
        return
    import numpy as np
    from .engine import OnnxModel
    from .paddle_engine import PaddleSession

    reference, converted = OnnxModel(onnx_path, threads=1), PaddleSession(program, threads=1, onednn=False)
    dims = [2 if converted.shape[0] < 0 else converted.shape[0]] + [d if d > 0 else 1 for d in converted.shape[1:]]
    probe = np.random.default_rng(0).random(dims, dtype=np.float32)
    for i, (want, got) in enumerate(zip(reference(probe), converted.run(None, {converted.input_name: probe}))):
        if want.shape != got.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-3):
            gap = np.abs(got - want).max() if want.shape == got.shape else f"shape {got.shape} vs {want.shape}"
            raise ConversionError(f"{Path(onnx_path).name}: the Paddle model's output {i} differs from ONNX Runtime's "
                                  f"({gap}); this graph does not convert correctly with x2paddle 1.6.0")


def cached(onnx_path):
    """Paddle model of an ONNX file, converted once into $HUB_HOME/paddle/ (keyed by the file's sha256)."""
    onnx_path = Path(onnx_path)
    folder = store.hub_home() / "paddle" / f"{onnx_path.stem}-{store.sha256_of(onnx_path)[:16]}-r{RECIPE}"
    program = folder / "model.pdmodel"
    if not program.is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".converting-") as tmp:
            convert(onnx_path, Path(tmp) / "model")
            try:
                os.replace(tmp, folder)  # atomic: another process may have finished first
            except OSError:
                pass
            Path(tmp).mkdir(exist_ok=True)  # TemporaryDirectory cleans up the (now empty) name
    return program


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="python -m hub_core.paddle_convert",
                                description="ONNX -> Paddle inference models with x2paddle in its own environment")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="create the converter environment")
    c = sub.add_parser("convert", help="convert one ONNX file")
    c.add_argument("onnx")
    c.add_argument("prefix", help="writes PREFIX.pdmodel and PREFIX.pdiparams")
    args = p.parse_args(argv)
    try:
        print(setup_converter() if args.cmd == "setup" else convert(args.onnx, args.prefix))
    except ConversionError as e:
        print(f"hub: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
