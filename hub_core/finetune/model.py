"""A trainable torch copy of a top-down heatmap ONNX model (PP-TinyPose's LiteHRNet by default).

torchvision and onnx2torch are unavailable here, so the graph is run node by node in torch: the ONNX
initialisers become parameters (BatchNorm is already folded into the convolutions), the few op types of
the graph are mapped by hand, and the last convolution (the heatmap head) is replaced by one with K
outputs. Shape constants baked into the fixed-size graph (channel-shuffle reshapes, resize sizes) are
rewritten to follow the actual tensor, so any input size divisible by 32 and any batch size work."""
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper, shape_inference
from torch import nn


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxHeatmapNet(nn.Module):
    """forward(x (N, 3, H, W) normalised RGB) -> heatmaps (N, K, H/4, W/4) (the base model's stride)."""

    def __init__(self, onnx_path, num_keypoints, pretrained=True, seed=0):
        super().__init__()
        graph = shape_inference.infer_shapes(onnx.load(str(onnx_path))).graph
        self.input_name = graph.input[0].name
        shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
                  for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
        self.base_input_shape = shapes[self.input_name]
        self.output_name = next(o.name for o in graph.output if len(shapes[o.name]) == 4)
        consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                consts[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
        self.nodes = self._needed(graph.node, self.output_name)
        head = next(n for n in self.nodes if self.output_name in n.output)
        if head.op_type != "Conv":
            raise ValueError(f"{onnx_path}: the heatmap output comes from {head.op_type}, expected a Conv head")
        self.head_name = head.name
        self.static_shapes = shapes
        self.weights = nn.ParameterDict()
        self.keys = {}  # initialiser name -> ParameterDict key
        self.constants = {}
        generator = torch.Generator().manual_seed(seed)
        for node in self.nodes:
            if node.op_type == "Conv":
                for name in node.input[1:]:
                    value = torch.from_numpy(consts[name].astype(np.float32).copy())
                    if node is head:
                        value = self._new_head(value, num_keypoints, generator)
                    elif not pretrained:
                        value = self._fresh(value, node, generator)
                    self.keys[name] = f"p{len(self.keys)}"
                    self.weights[self.keys[name]] = nn.Parameter(value)
            for name in node.input:
                if name in consts and name not in self.keys:
                    self.constants[name] = consts[name]
        self.attributes = [_attrs(n) for n in self.nodes]
        self._unit_variance = False

    def unit_variance_init(self, batch):
        """LSUV (Mishkin & Matas 2016): rescale every convolution but the head, in graph order, so that its output
        has unit variance on a real batch. The graph has no BatchNorm (it is folded into the convolutions), so
        a from-scratch start needs this to keep activations from exploding through the branch sums."""
        self._unit_variance = True
        try:
            with torch.no_grad():
                self(batch)
        finally:
            self._unit_variance = False

    @staticmethod
    def _needed(nodes, output):
        """The nodes the output depends on, in graph order (drops e.g. the ArgMax branch)."""
        producer = {o: i for i, n in enumerate(nodes) for o in n.output}
        keep, stack = set(), [output]
        while stack:
            i = producer.get(stack.pop())
            if i is not None and i not in keep:
                keep.add(i)
                stack.extend(nodes[i].input)
        return [nodes[i] for i in sorted(keep) if nodes[i].op_type != "Constant"]

    @staticmethod
    def _new_head(value, k, generator):
        if value.dim() == 1:
            return torch.zeros(k)
        return torch.randn((k,) + tuple(value.shape[1:]), generator=generator) * 0.001

    @staticmethod
    def _fresh(value, node, generator):
        """From-scratch initialisation (Kaiming normal, fan-out, as MMPose/HRNet), zero biases."""
        if value.dim() == 1:
            return torch.zeros_like(value)
        fan_out = value.shape[0] * value.shape[2] * value.shape[3] / _attrs(node).get("group", 1)
        return torch.randn(value.shape, generator=generator) * float(np.sqrt(2.0 / fan_out))

    def forward(self, x):
        env = {self.input_name: x}
        for node, attrs in zip(self.nodes, self.attributes):
            args = [self._value(name, env) for name in node.input]
            out = getattr(self, f"_op_{node.op_type}", None)
            if out is None:
                raise NotImplementedError(f"ONNX op {node.op_type} ({node.name}) is not mapped to torch")
            result = out(node, attrs, *args)
            for name, value in zip(node.output, result if isinstance(result, (list, tuple)) else [result]):
                env[name] = value
        return env[self.output_name]

    def _value(self, name, env):
        if name == "":
            return None
        if name in env:
            return env[name]
        if name in self.keys:
            return self.weights[self.keys[name]]
        return self.constants[name]

    # --- ops --------------------------------------------------------------------------
    def _op_Conv(self, node, a, x, w, b=None):
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotImplementedError(f"{node.name}: auto_pad")
        if pads[:2] != pads[2:]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            pads = [0, 0]
        y = F.conv2d(x, w, b, tuple(a.get("strides", [1, 1])), tuple(pads[:2]), tuple(a.get("dilations", [1, 1])),
                     a.get("group", 1))
        if self._unit_variance and node.name != self.head_name:
            std = float(y.std()) + 1e-8
            w.data /= std
            if b is not None:
                b.data /= std
            y = y / std
        return y

    def _op_Relu(self, node, a, x):
        return F.relu(x)

    def _op_Sigmoid(self, node, a, x):
        return torch.sigmoid(x)

    def _op_HardSigmoid(self, node, a, x):
        return torch.clamp(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1)

    def _op_HardSwish(self, node, a, x):
        return F.hardswish(x)

    def _op_Clip(self, node, a, x, lo=None, hi=None):
        lo = a.get("min", None) if lo is None else float(lo)
        hi = a.get("max", None) if hi is None else float(hi)
        return torch.clamp(x, lo, hi)

    def _op_Add(self, node, a, x, y):
        return x + _tensor(y, x)

    def _op_Sub(self, node, a, x, y):
        return x - _tensor(y, x)

    def _op_Mul(self, node, a, x, y):
        return x * _tensor(y, x)

    def _op_Div(self, node, a, x, y):
        return x / _tensor(y, x)

    def _op_Identity(self, node, a, x):
        return x

    def _op_Concat(self, node, a, *xs):
        return torch.cat(xs, a["axis"])

    def _op_Transpose(self, node, a, x):
        return x.permute(*a["perm"])

    def _op_GlobalAveragePool(self, node, a, x):
        return x.mean((2, 3), keepdim=True)

    def _op_ReduceMean(self, node, a, x, axes=None):
        axes = a.get("axes", None) if axes is None else [int(v) for v in axes]
        return x.mean(tuple(axes), keepdim=bool(a.get("keepdims", 1)))

    def _op_AveragePool(self, node, a, x):
        pads = a.get("pads", [0, 0, 0, 0])
        return F.avg_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]), pads[:2],
                            a.get("ceil_mode", 0) == 1, count_include_pad=a.get("count_include_pad", 0) == 1)

    def _op_MaxPool(self, node, a, x):
        pads = a.get("pads", [0, 0, 0, 0])
        return F.max_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]), pads[:2],
                            ceil_mode=a.get("ceil_mode", 0) == 1)

    def _op_Reshape(self, node, a, x, shape):
        # The graph was exported at batch 1 and one input size: batch and trailing spatial sizes follow x.
        target = [int(v) for v in shape]
        target[0] = -1
        if len(target) >= 4 and x.dim() >= 4:
            target[-2:] = x.shape[-2:]
        return x.reshape(target)

    def _op_Split(self, node, a, x, split=None):
        axis = a.get("axis", 0)
        sizes = list(a["split"]) if split is None and "split" in a else None
        sizes = [int(v) for v in split] if split is not None else sizes
        if sizes is None:
            n = len(node.output)
            sizes = [x.shape[axis] // n] * n
        return list(torch.split(x, sizes, axis))

    def _op_Slice(self, node, a, x, starts, ends, axes=None, steps=None):
        axes = range(len(starts)) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        index = [slice(None)] * x.dim()
        for s, e, ax, st in zip(starts, ends, axes, steps):
            e = min(int(e), 2 ** 31)
            index[int(ax)] = slice(int(s), e if e < 2 ** 31 else None, int(st))
        return x[tuple(index)]

    def _op_Resize(self, node, a, x, roi=None, scales=None, sizes=None):
        if scales is not None and len(scales):
            factor = [float(v) for v in scales[2:]]
        else:  # sizes baked for the base input: keep the ratio to the input instead
            static = self.static_shapes[node.input[0]]
            factor = [float(s) / float(d) for s, d in zip(sizes[2:], static[2:])]
        mode = a.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode == "nearest":
            return F.interpolate(x, scale_factor=factor, mode="nearest")
        ctm = a.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=ctm == "align_corners")


def _tensor(y, like):
    return y if torch.is_tensor(y) else torch.as_tensor(np.asarray(y), dtype=like.dtype)
