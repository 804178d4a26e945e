"""Op kinds: one small vocabulary for what a graph node computes, whatever frontend produced it.

A frontend names the callable a node runs (a module class, a torch function, a method name, an ONNX
op type); :func:`op_kind` maps that name onto the vocabulary below, which is all the rules look at.

Examples
--------
>>> op_kind("Conv2d"), op_kind("relu_"), op_kind("scaled_dot_product_attention")
('conv', 'act', 'attention')
>>> op_kind("BatchNormAct2d"), op_kind("MyBlock")
('norm', 'other')
"""

from __future__ import annotations

import re

__all__ = ["OP_KINDS", "op_kind"]

OP_KINDS = (
    "input",
    "output",
    "conv",
    "linear",
    "embedding",
    "norm",
    "act",
    "pool",
    "reduce",
    "upsample",
    "attention",
    "recurrent",
    "softmax",
    "matmul",
    "add",
    "mul",
    "cat",
    "reshape",
    "permute",
    "split",
    "identity",
    "other",
)

# Ordered: the first pattern that matches a lower-cased name wins (so "BatchNormAct2d" is a norm,
# "ConvTranspose2d" an upsample, "MultiheadAttention" attention).
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("attention", r"attention|^sdpa$|flash_attn"),
    ("recurrent", r"^(lstm|gru|rnn)(cell)?$|^rnn_(tanh|relu)$"),
    ("upsample", r"convtranspose|conv_transpose|upsampl|interpolate|pixel_?shuffle|^resize$"),
    ("norm", r"norm|^lrn$|local_response"),
    ("conv", r"conv"),
    ("embedding", r"embedding"),
    (
        "linear",
        r"^linear$|^addmm$|^gemm$|lazylinear|^dense$|nonquantizabledynamicallyquantizablelinear",
    ),
    ("softmax", r"softmax|softmin"),
    ("pool", r"pool"),
    (
        "act",
        r"^(relu6?|gelu|silu|swish|sigmoid|tanh|hard_?swish|hard_?sigmoid|hardtanh|mish|elu|selu|"
        r"celu|leaky_?relu|prelu|rrelu|softplus|softsign|glu|quick_?gelu|gelutanh|logsigmoid|"
        r"tanhshrink|threshold|clip|clamp)_?$",
    ),
    ("matmul", r"^(matmul|bmm|baddbmm|mm|einsum|__matmul__)$"),
    ("add", r"^(add|iadd|sub|isub|__add__|__iadd__|__radd__|__sub__|rsub)_?$"),
    ("mul", r"^(mul|imul|truediv|div|itruediv|__mul__|__rmul__|__truediv__|addcmul)_?$"),
    ("cat", r"^(cat|concat|concatenate|stack|hstack|vstack)$"),
    ("reduce", r"^(mean|sum|amax|max|amin|min|reducemean|reducesum|reducemax|globalaveragepool)$"),
    (
        "reshape",
        r"^(view|reshape|flatten|unflatten|squeeze|unsqueeze|expand|expand_as|contiguous|"
        r"view_as|repeat|tile|narrow|clone|to|type|float|half|unfold|fold|cast)$",
    ),
    ("permute", r"^(permute|transpose|t|movedim|swapaxes|swapdims|moveaxis)$"),
    ("split", r"^(getitem|chunk|split|unbind|tensor_split|slice|gather|index_select)$"),
    (
        "identity",
        r"^(identity|dropout\d?d?|dropout|droppath|drop_path|stochasticdepth|alpha_dropout|"
        r"feature_alpha_dropout)$",
    ),
)
_COMPILED = tuple((kind, re.compile(pattern)) for kind, pattern in _PATTERNS)


def op_kind(name: str) -> str:
    """Map a callable's name (module class, torch function, method, ONNX op type) to an op kind.

    Args:
        name: the bare name, e.g. ``"Conv2d"``, ``"add"``, ``"relu_"``, ``"Softmax"``.

    Returns:
        one of :data:`OP_KINDS`; ``"other"`` when nothing matches.
    """
    lowered = name.lower().rsplit(".", 1)[-1]
    for kind, pattern in _COMPILED:
        if pattern.search(lowered):
            return kind
    return "other"
