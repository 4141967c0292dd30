"""What trainlint knows about torch and torchvision by name: one table per concept.

Every table holds public qualified names (see names.canonical: `torch.nn.Conv2d`, not
`torch.nn.modules.conv.Conv2d`), the names `FileFacts.qualname` gives. A fact builder
that needs to know what a torch class or function is asks here; a table written
anywhere else is a second vocabulary that drifts from this one.

Heuristics on how code *spells* things (a variable called `optimizer`, a method called
`backward`) are not vocabulary: they live with the builder that reads them.
"""

from __future__ import annotations

_NN = "torch.nn."
_F = "torch.nn.functional."
_TRANSFORMS = "torchvision.transforms."
_LR_SCHEDULER = "torch.optim.lr_scheduler."


def _nn(*names: str) -> frozenset[str]:
    return frozenset(_NN + n for n in names)


# layers ----------------------------------------------------------------------------
CONV = _nn(
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d",
)
LINEAR = _nn("Linear", "LazyLinear", "Bilinear")
#: Conv and Linear layers: what a stack's depth counts and what a model's head ends in.
WEIGHT_LAYERS = CONV | LINEAR
BATCH_NORM = _nn(
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "SyncBatchNorm",
)
NORM = BATCH_NORM | _nn(
    "GroupNorm", "LayerNorm", "RMSNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LocalResponseNorm",
)
#: Normalization layers that, as a model's first layer, normalize its input images.
INPUT_NORM_LAYERS = _nn("BatchNorm2d", "InstanceNorm2d", "SyncBatchNorm", "LazyBatchNorm2d")
RECURRENT = _nn("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")
EMBEDDING = _nn("Embedding", "EmbeddingBag")
ATTENTION = _nn(
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer",
)
#: torch.nn classes that own trainable parameters (or buffers that must be trained/tracked).
WITH_PARAMETERS = CONV | LINEAR | NORM | RECURRENT | EMBEDDING | ATTENTION | _nn("PReLU")
#: Ends of class names that only weight layers take (`LayerNormLSTMCell`, `MaskedConv2d`);
#: not "Linear" (`NonLinear`) nor "Norm".
WEIGHT_LAYER_SUFFIXES = (
    "LSTMCell", "GRUCell", "RNNCell", "LSTM", "GRU", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "Embedding",
)
#: Position of `bias` among the positional parameters of torch's weight layers.
BIAS_POSITION = {
    **{_NN + n: 7 for n in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")},
    **{_NN + n: 6 for n in ("LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
                            "LazyConvTranspose3d")},
    _NN + "Linear": 2,
    _NN + "LazyLinear": 1,
    _NN + "Bilinear": 3,
}
#: Wrappers that reparametrize a layer's weight (the layer's output is weight-normalized).
WEIGHT_WRAPPERS = frozenset(
    {
        "torch.nn.utils.spectral_norm", "torch.nn.utils.weight_norm",
        "torch.nn.utils.parametrizations.spectral_norm", "torch.nn.utils.parametrizations.weight_norm",
    }
)
SEQUENTIAL = _NN + "Sequential"
MODULE_LIST = _NN + "ModuleList"
PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
#: Wrappers whose first argument is the model they run.
MODEL_WRAPPERS = frozenset(
    {
        "torch.nn.DataParallel", "torch.nn.parallel.DataParallel", "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.DDP", "DDP", "torch.compile", "torch.jit.script",
    }
)
#: Modules that pass a head's output through unchanged (as far as its meaning goes).
NEUTRAL_MODULES = _nn("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Flatten", "Identity", "Unflatten")

# activations ------------------------------------------------------------------------
#: Activation functions -> the name rules use for the activation.
ACTIVATION_FUNCTIONS = {
    "torch.softmax": "softmax", _F + "softmax": "softmax", "torch.special.softmax": "softmax",
    "torch.log_softmax": "log_softmax", _F + "log_softmax": "log_softmax", "torch.special.log_softmax": "log_softmax",
    "torch.sigmoid": "sigmoid", _F + "sigmoid": "sigmoid", "torch.special.expit": "sigmoid",
    "torch.relu": "relu", _F + "relu": "relu", "torch.relu_": "relu", _F + "relu_": "relu",
    _F + "relu6": "relu6", _F + "softplus": "softplus",
    "torch.tanh": "tanh", _F + "tanh": "tanh",
}
#: Tensor methods that apply an activation -> its name.
ACTIVATION_METHODS = {
    "softmax": "softmax", "log_softmax": "log_softmax", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
    "relu": "relu", "relu_": "relu", "tanh": "tanh",
}
#: Activation modules -> the activation's name.
ACTIVATION_MODULES = {
    _NN + "Softmax": "softmax", _NN + "LogSoftmax": "log_softmax", _NN + "Sigmoid": "sigmoid",
    _NN + "ReLU": "relu", _NN + "ReLU6": "relu6", _NN + "Softplus": "softplus", _NN + "Tanh": "tanh",
}
#: Activations that saturate on both sides: gradients vanish through a deep stack of them.
SQUASHING_MODULES = _nn("Sigmoid", "Tanh", "Hardsigmoid", "Hardtanh", "Softsign")
SQUASHING_FUNCTIONS = frozenset(
    {
        "torch.sigmoid", "torch.tanh", _F + "sigmoid", _F + "tanh", _F + "hardsigmoid", _F + "hardtanh",
        "torch.special.expit", _F + "softsign",
    }
)
SQUASHING_METHODS = frozenset({"sigmoid", "tanh", "sigmoid_", "tanh_"})

# tensor operations ----------------------------------------------------------------------
#: Tensor methods that keep what a tensor means (shape, dtype and device changes).
NEUTRAL_METHODS = frozenset(
    {
        "view", "reshape", "squeeze", "unsqueeze", "flatten", "float", "double", "half", "bfloat16", "to", "cuda",
        "cpu", "contiguous", "permute", "transpose", "clone", "detach", "type", "view_as", "reshape_as", "clamp",
        "squeeze_", "unsqueeze_", "resize", "resize_", "resize_as", "resize_as_",
    }
)
NEUTRAL_FUNCTIONS = frozenset({"torch.flatten", "torch.squeeze", "torch.unsqueeze", "torch.clamp", "torch.reshape"})
#: Module methods that return the module itself.
MODULE_METHODS = frozenset({"to", "cuda", "cpu", "train", "eval", "float", "double", "half", "bfloat16", "requires_grad_", "to_empty"})
#: Calls and methods whose result holds class indices (a classification target).
INDEX_TARGET_FUNCTIONS = frozenset({"torch.argmax", "torch.randint", "torch.randint_like"})
INDEX_TARGET_METHODS = frozenset({"long", "argmax"})
ONE_HOT = frozenset({_F + "one_hot"})
#: Operations that multiply their operands: a squashed input to them is a gate.
GATING_FUNCTIONS = frozenset(
    {
        "torch.mul", "torch.multiply", "torch.matmul", "torch.bmm", "torch.mm", "torch.einsum",
        "torch.baddbmm", "torch.addcmul", "torch.where", "torch.lerp", _F + "scaled_dot_product_attention",
    }
)
GATING_METHODS = frozenset({"mul", "mul_", "matmul", "bmm", "mm", "addcmul", "addcmul_", "lerp", "lerp_", "masked_fill"})
#: Attributes and methods of a tensor that carry no autograd graph.
GRAPHLESS = frozenset(
    {
        "detach", "detach_", "item", "tolist", "numpy", "size", "dim", "numel", "shape", "data", "dtype", "argmax",
        "argmin", "argsort", "isfinite", "isnan", "isinf", "all", "any", "new_zeros", "new_ones", "new_empty",
        "new_full", "new_tensor", "zero_", "get_device", "type", "is_contiguous", "is_floating_point",
        "device", "ndim", "is_cuda", "requires_grad", "nelement", "element_size", "stride", "data_ptr",
    }
)

# autograd ------------------------------------------------------------------------------
#: The contexts (and decorators) that turn gradients off.
NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode"})
#: Everything that switches autograd's mode, aliases included; `set_grad_enabled(x)`
#: turns it off only when `x` is False.
GRAD_MODE = NO_GRAD | {
    "torch.set_grad_enabled", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
    "torch.autograd.set_grad_enabled",
}
SET_GRAD_ENABLED = "torch.set_grad_enabled"
#: Calls whose result carries no autograd graph, whatever their arguments.
GRAPHLESS_CALLS = NO_GRAD | {
    "len", "int", "float", "bool", "str", "isinstance", "range", "print", "hasattr", "getattr", "type", "id",
    "enumerate", "zip", "tuple", "list", "dict", "set", "sorted", "round", "repr", "format",
    "torch.zeros_like", "torch.ones_like", "torch.empty_like", "torch.full_like", "torch.rand_like",
    "torch.randn_like", "torch.randint_like", "torch.is_tensor", "torch.numel", "torch.is_floating_point",
    "torch.argmax", "torch.argmin", "torch.argsort", "torch.isfinite", "torch.isnan", "torch.isinf",
    "torch.is_grad_enabled", "torch.autocast",
}

# losses -------------------------------------------------------------------------------
#: Every loss function of torch.nn.functional.
FUNCTIONAL_LOSSES = frozenset(
    _F + n
    for n in (
        "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "ctc_loss",
        "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss", "margin_ranking_loss",
        "hinge_embedding_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
        "multi_margin_loss", "soft_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
    )
)
#: The losses whose inputs the loss facts follow, as loss objects -> their kind.
LOSS_CLASS_KINDS = {
    _NN + "CrossEntropyLoss": "cross_entropy", _NN + "BCELoss": "bce",
    _NN + "BCEWithLogitsLoss": "bce_logits", _NN + "NLLLoss": "nll", _NN + "MSELoss": "mse",
}
#: The same losses as functions -> their kind.
LOSS_FUNCTION_KINDS = {
    _F + "cross_entropy": "cross_entropy", _F + "binary_cross_entropy": "bce",
    _F + "binary_cross_entropy_with_logits": "bce_logits", _F + "nll_loss": "nll", _F + "mse_loss": "mse",
}
#: What each loss kind is called in messages.
LOSS_NAMES = {
    "cross_entropy": "CrossEntropyLoss",
    "bce": "BCELoss",
    "bce_logits": "BCEWithLogitsLoss",
    "nll": "NLLLoss",
    "mse": "MSELoss",
}


def _losses_of_kind(*kinds: str) -> frozenset[str]:
    return frozenset(q for table in (LOSS_CLASS_KINDS, LOSS_FUNCTION_KINDS) for q, kind in table.items() if kind in kinds)


CLASSIFICATION_LOSSES = _losses_of_kind("cross_entropy", "nll")
#: Losses of tasks whose targets are images (autoencoders, GANs, super-resolution).
RECONSTRUCTION_LOSSES = _losses_of_kind("bce", "bce_logits", "mse") | {_NN + "L1Loss", _F + "l1_loss", _NN + "SmoothL1Loss"}

# optimizers and schedulers ---------------------------------------------------------------
#: Scheduler classes by the unit their period counts.
EPOCH_SCHEDULERS = frozenset(_LR_SCHEDULER + n for n in ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR"))
BATCH_SCHEDULERS = frozenset(_LR_SCHEDULER + n for n in ("OneCycleLR", "CyclicLR"))
PLATEAU_SCHEDULERS = frozenset({_LR_SCHEDULER + "ReduceLROnPlateau"})
#: Optimizer classes of other libraries, by class name (timm, apex, bitsandbytes, ... all spell them so).
OPTIMIZER_CLASS_NAMES = frozenset({"AdamW", "Adam", "SGD", "Lion", "LAMB", "Lamb", "LARS", "Adafactor", "AdamP", "SGDP", "Lookahead"})
#: Gradient clipping, by function or method name (torch's, timm's dispatch_clip_grad, Lightning's).
CLIP_NAMES = frozenset(
    {"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grad_value", "clip_gradients", "dispatch_clip_grad"}
)
#: Data-parallel wrappers, by class name: the model inside decides what it is.
PARALLEL_WRAPPER_NAMES = frozenset({"DataParallel", "DistributedDataParallel", "FullyShardedDataParallel", "DDP", "FSDP"})

# weight initialization -------------------------------------------------------------------
_INIT = "torch.nn.init."
CONSTANT_INIT_FUNCTIONS = frozenset(_INIT + n for n in ("zeros_", "ones_", "constant_", "zeros", "ones", "constant"))
CONSTANT_INIT_METHODS = frozenset({"fill_", "zero_"})
EMPTY_ALLOCATIONS = frozenset({"torch.empty"})
#: Legacy constructors: `torch.Tensor(3, 4)` allocates uninitialized memory; `torch.Tensor([1, 2])` copies data.
LEGACY_CONSTRUCTORS = frozenset(
    {"torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor", "torch.cuda.FloatTensor"}
)

# data ------------------------------------------------------------------------------------
DATALOADER = "torch.utils.data.DataLoader"
COMPOSE = frozenset({_TRANSFORMS + "Compose"})
TRANSFORMS = _TRANSFORMS
TORCHVISION_DATASETS = "torchvision.datasets."
#: Datasets whose items come from __getitem__ (a sampler can reorder them).
MAP_DATASETS = frozenset(
    "torch.utils.data." + n
    for n in ("Dataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "StackDataset")
)
#: Wrappers of a dataset whose first argument is the dataset they take items from.
DATASET_VIEWS = frozenset({"torch.utils.data.Subset", "torch.utils.data.random_split"})
ITERABLE_BASES = frozenset(
    {
        "torch.utils.data.IterableDataset",
        "torch.utils.data.ChainDataset",
        "torch.utils.data.IterDataPipe",
        "torch.utils.data.datapipes.datapipe.IterDataPipe",
        "torchdata.datapipes.iter.IterDataPipe",
    }
)
#: Libraries whose datasets are streams: a DataLoader cannot shuffle them.
ITERABLE_PACKAGES = ("torchtext.datasets.", "torchdata.", "webdataset.", "wds.", "streaming.")
HF_LOAD_DATASET = "datasets.load_dataset"
VIDEO_DATASETS = frozenset(
    TORCHVISION_DATASETS + n for n in ("Kinetics", "Kinetics400", "HMDB51", "UCF101", "MovingMNIST")
)
#: Datasets whose second positional argument is the transform.
FOLDER_DATASETS = frozenset({TORCHVISION_DATASETS + "ImageFolder", TORCHVISION_DATASETS + "DatasetFolder"})
FLOAT_CONVERSIONS = frozenset(_TRANSFORMS + n for n in ("ToTensor", "ToDtype", "ConvertImageDtype", "ToImageTensor"))
TO_TENSOR = _TRANSFORMS + "ToTensor"
NORMALIZING = frozenset({_TRANSFORMS + "Normalize"})
#: Steps whose effect cannot be read from the pipeline: they may well normalize.
OPAQUE_STEPS = frozenset({_TRANSFORMS + "Lambda"})
RANDOM_AUGMENTATIONS = frozenset(
    _TRANSFORMS + n
    for n in (
        "RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation",
        "RandomAffine", "RandomPerspective", "ColorJitter", "RandomGrayscale", "RandomErasing", "RandomApply",
        "RandomChoice", "RandomOrder", "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix",
        "RandomInvert", "RandomPosterize", "RandomSolarize", "RandomAdjustSharpness", "RandomAutocontrast",
        "RandomEqualize", "ElasticTransform", "RandomIoUCrop", "RandomZoomOut", "RandomPhotometricDistort",
        "RandomShortestSize", "RandomResize", "ScaleJitter", "RandomChannelPermutation", "CutMix", "MixUp",
    )
)
COLOR_JITTER = _TRANSFORMS + "ColorJitter"
#: Containers whose inner transforms are steps of the same pipeline.
NESTING = frozenset(_TRANSFORMS + n for n in ("Compose", "RandomApply", "RandomChoice", "RandomOrder"))
NORMALIZE_FUNCTIONS = frozenset(
    {"torchvision.transforms.functional.normalize", "torchvision.transforms.Normalize", "kornia.enhance.Normalize",
     "kornia.augmentation.Normalize", "kornia.enhance.normalize"}
)
#: Calls of tasks whose targets are the images themselves: there, pixels in [0, 1] are the point.
IMAGE_TARGET_CALLS = RECONSTRUCTION_LOSSES | {"torchvision.utils.save_image", "torchvision.utils.make_grid"}
#: torchvision's detection models normalize their inputs themselves (GeneralizedRCNNTransform).
SELF_NORMALIZING_MODELS = ("torchvision.models.detection.",)
#: Calls that mean a script runs a trained model: no-grad contexts, a scripted model's load.
INFERENCE_CALLS = NO_GRAD | {"torch.jit.load"}
#: Calls that draw random numbers (a dataset that draws its samples: order does not matter).
RANDOM_CALL_PREFIXES = (
    "random.", "numpy.random.", "torch.randint", "torch.randperm", "torch.rand", "torch.multinomial",
)


def is_weight_layer(qualname: str | None) -> bool:
    return qualname in CONV or qualname in LINEAR


def has_parameters(qualname: str | None) -> bool:
    return qualname in WITH_PARAMETERS

#: Calls that read an image file: a Dataset whose methods call one serves images.
IMAGE_READERS = frozenset({
    "PIL.Image.open", "cv2.imread", "imageio.imread", "imageio.v2.imread", "imageio.v3.imread",
    "skimage.io.imread", "torchvision.io.read_image", "torchvision.io.decode_image", "matplotlib.pyplot.imread",
})
