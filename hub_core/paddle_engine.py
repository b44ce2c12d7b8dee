"""Paddle Inference behind ONNX Runtime's session interface (run, get_inputs, get_outputs), so the
engine's OnnxModel batches and splits runs for either runtime the same way.

CPU: oneDNN is used for a graph only where it gives the same outputs as Paddle's plain CPU kernels on a
probe batch. On some converted graphs it raises, differs, or corrupts the heap and kills the process, so
the comparison runs in a child process, once per program file; the verdict is kept in
$HUB_HOME/paddle/onednn.json. GPU: needs a CUDA build of Paddle (`paddlepaddle-gpu`).
"""
import json
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np

from . import store

Arg = namedtuple("Arg", "name shape")  # what ONNX Runtime's NodeArg offers the engine
PADDLE_SUFFIXES = (".pdmodel", ".json")  # a Paddle program file (legacy, PIR)


def is_paddle_model(path):
    return Path(path).suffix in PADDLE_SUFFIXES


def _paddle_inference():
    try:
        import paddle.inference as inference
    except ImportError as e:
        raise RuntimeError('backend="paddle" needs Paddle Inference: pip install -e ".[paddle]" '
                           "(paddlepaddle; paddlepaddle-gpu for use_gpu=True)") from e
    return inference


class PaddleSession:
    def __init__(self, program, use_gpu=False, threads=1, onednn=None):
        """onednn: None decides per graph (see the module docstring)."""
        program = Path(program)
        self.program, self.use_gpu, self.threads = program, use_gpu, threads
        self._inference = _paddle_inference()
        if use_gpu:
            import paddle
            if not paddle.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
                raise RuntimeError('use_gpu=True with backend="paddle" needs paddlepaddle-gpu and a CUDA device '
                                   "(this Paddle has none); or run with use_gpu=False")
        self.input_name, self.shape = declared_input(program)
        self.onednn = False if use_gpu else (onednn_works(program) if onednn is None else onednn)
        self.predictor = self._predictor(self.onednn)
        expected = self._run(self.predictor, self._probe())
        batch = "batch" if self.shape[0] < 0 else self.shape[0]
        self._inputs = [Arg(self.input_name, [batch] + self.shape[1:])]
        self._outputs = [Arg(n, [batch] + list(out.shape[1:]))
                         for n, out in zip(self.predictor.get_output_names(), expected)]

    def _predictor(self, onednn):
        config = self._inference.Config(str(self.program), str(self.program.with_suffix(".pdiparams")))
        if self.use_gpu:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(self.threads)
            config.enable_mkldnn() if onednn else config.disable_mkldnn()
        config.switch_ir_optim(True)
        config.enable_memory_optim()
        config.disable_glog_info()
        return self._inference.create_predictor(config)

    def _probe(self):
        dims = [2 if self.shape[0] < 0 else self.shape[0]] + [d if d > 0 else 1 for d in self.shape[1:]]
        return np.random.default_rng(0).random(dims, dtype=np.float32)

    @staticmethod
    def _run(predictor, batch):
        handle = predictor.get_input_handle(predictor.get_input_names()[0])
        handle.reshape(batch.shape)
        handle.copy_from_cpu(np.ascontiguousarray(batch, np.float32))
        predictor.run()
        return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]

    # --- ONNX Runtime's InferenceSession interface, as the engine and hub benchmark use it ---
    def get_inputs(self):
        return self._inputs

    def get_outputs(self):
        return self._outputs

    def run(self, output_names, feed):
        outputs = self._run(self.predictor, next(iter(feed.values())))
        if output_names is None:
            return outputs
        index = {a.name: i for i, a in enumerate(self._outputs)}
        return [outputs[index[n]] for n in output_names]


def declared_input(program):
    """(name, dims) of a program's single feed variable, read from the .pdmodel (ProgramDesc protobuf);
    a predictor does not expose declared shapes. -1 marks a free dimension."""
    from paddle.base.proto import framework_pb2

    desc = framework_pb2.ProgramDesc.FromString(Path(program).read_bytes())
    block = desc.blocks[0]
    feeds = [op.outputs[0].arguments[0] for op in block.ops if op.type == "feed"]
    if len(feeds) != 1:
        raise ValueError(f"{Path(program).name}: expected one input, found {len(feeds)}")
    var = next(v for v in block.vars if v.name == feeds[0])
    tensor = getattr(var.type, "dense_tensor" if var.type.HasField("dense_tensor") else "lod_tensor").tensor
    return feeds[0], [int(d) for d in tensor.dims]


def onednn_works(program):
    """Whether oneDNN runs this program with the plain kernels' outputs; decided in a child process.
    HUB_PADDLE_ONEDNN=0 / 1 skips the check (oneDNN's own set-up of a graph can take a minute)."""
    import paddle

    forced = os.environ.get("HUB_PADDLE_ONEDNN")
    if forced in ("0", "1"):
        return forced == "1"
    verdicts_file = store.hub_home() / "paddle" / "onednn.json"
    key = f"{store.sha256_of(program)[:16]} paddle {paddle.__version__}"
    verdicts = json.loads(verdicts_file.read_text()) if verdicts_file.is_file() else {}
    if key not in verdicts:
        try:
            child = subprocess.run([sys.executable, "-m", "hub_core.paddle_engine", str(program)],
                                   capture_output=True, text=True, timeout=300)
            verdicts[key] = child.returncode == 0 and child.stdout.strip().endswith("same")
        except subprocess.TimeoutExpired:  # oneDNN hangs on some graphs
            verdicts[key] = False
        verdicts_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = verdicts_file.with_suffix(f".{id(verdicts)}.tmp")
        tmp.write_text(json.dumps(verdicts, indent=1))
        tmp.replace(verdicts_file)
    return verdicts[key]


def compare_onednn(program):
    """'same' when oneDNN's outputs equal the plain kernels' on a probe batch; run by onednn_works."""
    plain = PaddleSession(program, threads=1, onednn=False)
    fast = PaddleSession(program, threads=1, onednn=True)
    probe = plain._probe()
    same = all(np.allclose(a, b, rtol=1e-3, atol=1e-4)
               for a, b in zip(plain._run(fast.predictor, probe), plain._run(plain.predictor, probe)))
    return "same" if same else "different"


if __name__ == "__main__":
    print(compare_onednn(sys.argv[1]))
