"""ONNX Runtime sessions with deliberate threading, batching and an explicit GPU choice, and the stage timer
the pipeline reports its time to (read by `hub benchmark`); a Paddle inference model file runs on Paddle
Inference behind the same session interface (paddle_engine.py)."""
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from .graph import decompose_prelu, drop_weight_inputs, with_dynamic_batch
from .paddle_engine import PaddleSession, is_paddle_model


def default_threads():
    """Intra-op threads per session: HUB_NUM_THREADS, else every core (capped at 8)."""
    env = os.environ.get("HUB_NUM_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


def providers_for(use_gpu):
    """ONNX Runtime execution providers with their options. GPU: CUDA (TensorRT first when
    HUB_ORT_TENSORRT=1 and this build has it), CPU only for the few operators CUDA lacks."""
    if not use_gpu:
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        raise RuntimeError("use_gpu=True but ONNX Runtime has no CUDA provider here "
                           f"(available: {', '.join(available)}); install onnxruntime-gpu "
                           "on a machine with CUDA, or run with use_gpu=False")
    if hasattr(ort, "preload_dlls"):  # onnxruntime-gpu >= 1.21: CUDA / cuDNN from NVIDIA's pip wheels when present
        ort.preload_dlls()
    cuda = {"device_id": int(os.environ.get("HUB_GPU_ID", "0")),
            # pick convolution algorithms by heuristics: the exhaustive search re-runs for every new batch size
            "cudnn_conv_algo_search": "HEURISTIC",
            "arena_extend_strategy": "kSameAsRequested",
            "do_copy_in_default_stream": True,
            # TF32 maths (Ampere and later, 10-bit mantissa) is ONNX Runtime's default; HUB_CUDA_TF32=0 turns it off
            "use_tf32": int(os.environ.get("HUB_CUDA_TF32", "1"))}
    providers = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
    if os.environ.get("HUB_ORT_TENSORRT") == "1" and "TensorrtExecutionProvider" in available:
        from .store import hub_home
        trt = {"device_id": cuda["device_id"], "trt_engine_cache_enable": True,
               "trt_engine_cache_path": str(hub_home() / "tensorrt_cache"),
               "trt_fp16_enable": os.environ.get("HUB_TRT_FP16") == "1"}
        providers.insert(0, ("TensorrtExecutionProvider", trt))
    return providers


class StageTimer:
    """Seconds per pipeline stage ('detector', 'crop', ...), added where each stage runs while `on`; every
    OnnxModel then also logs its session runs. Off (the default), a stage costs one attribute read."""

    def __init__(self):
        self.on = False
        self.seconds = {}

    @contextmanager
    def __call__(self, name):
        if not self.on:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


stages = StageTimer()


def static_dims(dims):
    """A graph shape with symbolic dimensions (batch, ...) read as 1."""
    return [d if isinstance(d, int) else 1 for d in dims]


# Input values per session run. Larger batches of large inputs stop paying: their activations fall out
# of the caches (2 cores, ms per image at batch 1/2/4/8: UltraLight-640 5.9/5.9/6.3/6.0, YOLOX-nano
# 9.1/8.3/8.1/8.2, PP-TinyPose 11.2/8.9/8.1/8.1). Batches are split into runs of at most this many values:
# 2 frames for UltraLight-640, 4 for YOLOX, 14 crops for PP-TinyPose, 55 for MobileFaceNet.
RUN_INPUT_BUDGET = 2_100_000
# On a GPU larger runs keep it busy: up to 32 M values (128 MB of float32) per run, 32 frames of 640x480.
GPU_RUN_INPUT_BUDGET = 32 * 1024 * 1024


class OnnxModel:
    """One ONNX graph. Call it with a batch (N, ...) and get the list of outputs.

    The graph is loaded through graph.py's rewrites: weights dropped from the inputs, PRelu decomposed
    (CPU), and a graph exported for batch 1 made to take any batch when that gives the same outputs as
    single runs (checked at load). A graph that stays at batch 1 is run one item at a time, so callers
    can always pass whole batches.
    """

    def __init__(self, path, use_gpu=False, threads=None):
        self.path, self.use_gpu = str(path), use_gpu
        if is_paddle_model(path):  # a Paddle inference model (backend="paddle") runs on Paddle Inference
            self.session = PaddleSession(path, use_gpu, threads or default_threads())
        else:
            self._load_onnx(use_gpu, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = inp.shape
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.runs = []      # (rows, seconds) of each session run while stages.on
        self.sample = None  # the first input row seen while stages.on (hub benchmark replays it)

    def _load_onnx(self, use_gpu, threads):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Intra-op threads spin while a run lasts (a model alone is 25-40% faster than with sleeping threads)
        # and stop spinning when it ends, so the decode thread and the Python pre/post-processing between
        # runs get the cores. HUB_ORT_SPIN=0 makes idle threads sleep throughout.
        spin = os.environ.get("HUB_ORT_SPIN", "1")
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        opts.add_session_config_entry("session.force_spinning_stop", "1")
        self._opts, self._providers = opts, providers_for(use_gpu)

        model = onnx.load(self.path)
        drop_weight_inputs(model)
        if not use_gpu:
            decompose_prelu(model)
        first_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
        self.session = None
        if first_dim.HasField("dim_value") and first_dim.dim_value == 1:
            self._try_dynamic_batch(model)
        if self.session is None:
            self.session = self._session(model)

    def _session(self, model):
        session = ort.InferenceSession(model.SerializeToString(), sess_options=self._opts, providers=self._providers)
        if self.use_gpu and "CUDAExecutionProvider" not in session.get_providers():
            # ONNX Runtime falls back to CPU (with a log line) when the CUDA libraries do not load
            raise RuntimeError(f"use_gpu=True but ONNX Runtime could not start CUDA for {Path(self.path).name} "
                               "(CUDA / cuDNN libraries missing or not matching onnxruntime-gpu)")
        return session

    def _try_dynamic_batch(self, model):
        try:
            session = self._session(with_dynamic_batch(model))
            inp = session.get_inputs()[0]
            probe = np.random.default_rng(0).random([2] + static_dims(inp.shape[1:]), dtype=np.float32)
            batched = session.run(None, {inp.name: probe})
            singles = [session.run(None, {inp.name: probe[i:i + 1]}) for i in range(2)]
        except Exception:  # noqa: BLE001 - a graph that cannot be rewritten stays at batch 1
            return
        for got, parts in zip(batched, zip(*singles)):
            if not np.allclose(got, np.concatenate(parts), rtol=1e-3, atol=1e-4):
                return
        self.session = session

    @property
    def rows_per_run(self):
        """Most rows one session run takes: 1 for a fixed-batch graph, else what fits RUN_INPUT_BUDGET."""
        values = int(np.prod(static_dims(self.input_shape[1:])))
        return self.fixed_batch or max(1, (GPU_RUN_INPUT_BUDGET if self.use_gpu else RUN_INPUT_BUDGET) // values)

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        rows = self.rows_per_run
        if len(batch) <= rows and (self.fixed_batch is None or len(batch) == self.fixed_batch):
            return self._run(batch)
        if len(batch) == 0:
            return [np.zeros((0,) + tuple(self._out_shape(i)), np.float32) for i in range(len(self.output_names))]
        runs = [self._run(batch[i:i + rows]) for i in range(0, len(batch), rows)]
        return [np.concatenate(parts) for parts in zip(*runs)]

    def _run(self, batch):
        if not stages.on:
            return self.session.run(self.output_names, {self.input_name: batch})
        start = time.perf_counter()
        outputs = self.session.run(self.output_names, {self.input_name: batch})
        self.runs.append((len(batch), time.perf_counter() - start))
        if self.sample is None and len(batch):
            self.sample = np.array(batch[:1])
        return outputs

    def map(self, items, prepare):
        """Outputs for many items, each made into one input row by prepare(item) and stacked rows_per_run
        at a time, so a large batch of images never sits in memory as one big input tensor."""
        rows, runs = self.rows_per_run, []
        for i in range(0, len(items), rows):
            part = [prepare(item) for item in items[i:i + rows]]
            runs.append(self(part[0][None] if len(part) == 1 else np.stack(part)))  # one row: a view, no copy
        return [np.concatenate(parts) for parts in zip(*runs)] if len(runs) > 1 else runs[0]

    def _out_shape(self, i):
        return static_dims(self.session.get_outputs()[i].shape[1:])
