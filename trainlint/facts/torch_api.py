"""What trainlint knows about torch.nn's classes: which hold weights, which normalize.

Names are the public qualified names (see names.canonical).
"""

from __future__ import annotations

_NN = "torch.nn."


def _nn(*names: str) -> frozenset[str]:
    return frozenset(_NN + n for n in names)


CONV = _nn(
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d",
)
LINEAR = _nn("Linear", "LazyLinear", "Bilinear")
NORM = _nn(
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "SyncBatchNorm", "GroupNorm", "LayerNorm", "RMSNorm", "InstanceNorm1d",
    "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
    "LazyInstanceNorm3d", "LocalResponseNorm",
)
BATCH_NORM = _nn(
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "SyncBatchNorm",
)
RECURRENT = _nn("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")
EMBEDDING = _nn("Embedding", "EmbeddingBag")
ATTENTION = _nn(
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer",
)
#: torch.nn classes that own trainable parameters (or buffers that must be trained/tracked).
WITH_PARAMETERS = CONV | LINEAR | NORM | RECURRENT | EMBEDDING | ATTENTION | _nn("PReLU")

SQUASHING_ACTIVATIONS = _nn("Sigmoid", "Tanh", "Hardsigmoid", "Hardtanh", "LogSigmoid", "Softsign", "Tanhshrink")
SQUASHING_FUNCTIONS = frozenset(
    {
        "torch.sigmoid", "torch.tanh", "torch.nn.functional.sigmoid", "torch.nn.functional.tanh",
        "torch.nn.functional.hardsigmoid", "torch.nn.functional.hardtanh", "torch.special.expit",
    }
)
ACTIVATIONS = SQUASHING_ACTIVATIONS | _nn(
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
    "Softplus", "Hardswish", "Softmax", "LogSoftmax", "Softmin", "Threshold", "GLU",
)
CONTAINERS = _nn("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict")


def is_weight_layer(qualname: str | None) -> bool:
    return qualname in CONV or qualname in LINEAR


def has_parameters(qualname: str | None) -> bool:
    return qualname in WITH_PARAMETERS
