"""PyTorch weight files read without PyTorch, and tfpc's weights folder.

`read_torch(path)` returns the tensors of a `torch.save`d state dict as numpy
arrays, in either of torch's layouts:

- legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): a stream of
  pickles (magic number, protocol version, system info, the state dict, the
  list of storage keys), then each storage as an int64 element count and its
  raw little-endian bytes. Tensors name their storage by the persistent id
  `('storage', type, key, location, numel, view)`;
- zip (torch >= 1.6): `<name>/data.pkl`, whose persistent ids are
  `('storage', type, key, location, numel)`, and one entry `<name>/data/<key>`
  per storage.

The pickles are read by an unpickler that knows nothing but torch's tensor
rebuilding functions, its storage types and `OrderedDict`: any other global
raises `UnsafeFileError`, so a file cannot run code.

`convert(path)` recognises a file by its keys and shapes (`NETWORKS`) and
writes the arrays that network needs to `<weights dir>/<network>.npz`;
`load(name)` reads them back. The LPIPS heads and DISTS' alpha and beta also
ship with tfpc (`tfpc/shipped_weights`, with their provenance and licenses);
ImageNet backbones never do.
"""

import collections
import dataclasses
import io
import os
import pickle
import zipfile

import numpy as np

from tfpc import errors
from tfpc import files

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {"FloatStorage": "f4", "DoubleStorage": "f8",
                  "HalfStorage": "f2", "LongStorage": "i8",
                  "IntStorage": "i4", "ShortStorage": "i2",
                  "CharStorage": "i1", "ByteStorage": "u1",
                  "BoolStorage": "?"}
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "shipped_weights")

# torchvision's `features` stacks: a convolution is (filters, kernel, stride,
# padding), or an int for (filters, 3, 1, 1), and is followed by a ReLU; "M" is
# a 2x2 max-pooling, "M3" a 3x3 one, both of stride 2.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M")
VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512,
         512, "M", 512, 512, 512, 512, "M")
ALEXNET = ((64, 11, 4, 2), "M3", (192, 5, 1, 2), "M3", (384, 3, 1, 1),
           (256, 3, 1, 1), (256, 3, 1, 1), "M3")
LPIPS_CHANNELS = {"alex": (64, 192, 384, 256, 256),
                  "vgg": (64, 128, 256, 512, 512)}
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)


def feature_layers(config):
  """torchvision's layers of a `features` stack: (index, kind, spec, inputs).

  kind is "conv" (spec: filters, kernel, stride, padding), "relu" or "pool"
  (spec: kernel); index is the layer's position in `features`, as in the
  state dict's keys.
  """
  layers, channels = [], 3
  for item in config:
    if isinstance(item, str):
      layers.append((len(layers), "pool", int(item[1:] or 2), channels))
      continue
    spec = (item, 3, 1, 1) if isinstance(item, int) else item
    layers.append((len(layers), "conv", spec, channels))
    layers.append((len(layers), "relu", None, spec[0]))
    channels = spec[0]
  return layers


def _backbone_shapes(config):
  shapes = {}
  for index, kind, spec, inputs in feature_layers(config):
    if kind == "conv":
      shapes[f"features.{index}.weight"] = (spec[0], inputs, spec[1], spec[1])
      shapes[f"features.{index}.bias"] = (spec[0],)
  return shapes


@dataclasses.dataclass(frozen=True)
class Network:
  """The arrays a network needs (key -> shape) and where users get them."""
  shapes: dict
  source: str


_TORCHVISION = "https://download.pytorch.org/models/"
NETWORKS = {
    "vgg16": Network(_backbone_shapes(VGG16), "torchvision's ImageNet VGG16, "
                     f"{_TORCHVISION}vgg16-397923af.pth"),
    "vgg19": Network(_backbone_shapes(VGG19), "torchvision's ImageNet VGG19, "
                     f"{_TORCHVISION}vgg19-dcbb9e9d.pth"),
    "alexnet": Network(_backbone_shapes(ALEXNET), "torchvision's ImageNet "
                       f"AlexNet, {_TORCHVISION}alexnet-owt-7be5be79.pth"),
    **{f"lpips_{net}": Network(
        {f"lin{k}.model.1.weight": (1, c, 1, 1)
         for k, c in enumerate(channels)},
        f"{net}.pth of the lpips package (lpips/weights/v0.1/)")
       for net, channels in LPIPS_CHANNELS.items()},
    "dists": Network({key: (1, sum(DISTS_CHANNELS), 1, 1)
                      for key in ("alpha", "beta")},
                     "weights.pt of DISTS_pytorch (at its environment's "
                     "sys.prefix)"),
}


@dataclasses.dataclass(frozen=True)
class _StorageType:
  """A storage type global (`torch.FloatStorage`...), made anew for each
  lookup: nothing a pickle does to it outlives its file."""
  dtype: str


@dataclasses.dataclass(frozen=True)
class _Storage:
  """A persistent id: elements [offset, offset + numel) of storage `key`."""
  key: str
  dtype: str
  offset: int
  numel: int


@dataclasses.dataclass(frozen=True)
class _Tensor:
  storage: _Storage
  offset: int
  size: tuple
  stride: tuple


def _rebuild_tensor(storage, offset, size, stride, *unused):
  """torch._utils._rebuild_tensor(_v2): v2 adds grad flag, hooks, metadata."""
  del unused
  return _Tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused):
  del unused
  return data


_FUNCTIONS = {("collections", "OrderedDict"): collections.OrderedDict,
              ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
              ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
              ("torch._utils", "_rebuild_parameter"): _rebuild_parameter}


class _Unpickler(pickle._Unpickler):  # pylint: disable=protected-access
  """Builds state dicts of `_Tensor`s; refuses every other global.

  The Python unpickler, so that BUILD (setting an object's state) can be
  allowed on the state dict alone (its `_metadata`): on a function it could
  change the function for every later file."""

  dispatch = dict(pickle._Unpickler.dispatch)  # pylint: disable=protected-access

  def find_class(self, module, name):
    if module == "torch" and name in STORAGE_DTYPES:
      return _StorageType(STORAGE_DTYPES[name])
    if (module, name) not in _FUNCTIONS:
      raise errors.UnsafeFileError(
          f"the pickle asks for {module + '.' + name!r}, which a weight file "
          "does not need; refused (only tensors, storages and OrderedDict "
          "are read)")
    return _FUNCTIONS[module, name]

  def load_build(self):
    if not isinstance(self.stack[-2:-1] and self.stack[-2],
                      collections.OrderedDict):
      raise pickle.UnpicklingError("BUILD on something else than a dict")
    super().load_build()

  dispatch[pickle.BUILD[0]] = load_build
  # torch pickles with protocol 2: no out-of-band buffers, whose opcode would
  # allocate the length it reads before reading.
  for opcode in (pickle.BYTEARRAY8, pickle.NEXT_BUFFER,
                 pickle.READONLY_BUFFER):
    del dispatch[opcode[0]]
  del opcode

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) in (5, 6)
            and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
      raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
    _, kind, key, _, numel, *view = pid
    if view and view[0] is not None:  # legacy storage view: (key, offset, n)
      _, offset, numel = view[0]
    else:
      offset = 0
    if not all(isinstance(n, int) and n >= 0 for n in (offset, numel)):
      raise pickle.UnpicklingError(f"bad storage offset or size in {pid!r}")
    return _Storage(str(key), kind.dtype, offset, numel)


class _Bounded:
  """A binary file whose reads never ask for more than its remaining bytes
  (a pickle's length fields cannot make the reader allocate more)."""

  def __init__(self, file, size):
    self.file, self.size = file, size

  def read(self, count=-1):
    remaining = self.size - self.file.tell()
    return self.file.read(remaining if count < 0 else min(count, remaining))

  def readline(self):
    return self.file.readline(max(self.size - self.file.tell(), 0))

  def tell(self):
    return self.file.tell()


def _unpickle(file):
  return _Unpickler(file, encoding="utf-8").load()


def _legacy(file, file_size):
  """The object and its storages' bytes of a legacy-layout stream."""
  file = _Bounded(file, file_size)
  if _unpickle(file) != LEGACY_MAGIC:
    raise pickle.UnpicklingError("no PyTorch magic number")
  if _unpickle(file) != LEGACY_PROTOCOL:
    raise pickle.UnpicklingError("unknown legacy protocol version")
  _unpickle(file)  # system info
  state = _unpickle(file)
  dtypes, storages = _dtypes(state), {}
  for key in _unpickle(file):
    count = int.from_bytes(file.read(8), "little", signed=True)
    dtype = dtypes.get(str(key))
    if dtype is None:
      raise pickle.UnpicklingError(f"storage {key} belongs to no tensor")
    if not 0 <= count * dtype.itemsize <= file_size - file.tell():
      raise pickle.UnpicklingError(f"storage {key} is truncated")
    storages[str(key)] = np.frombuffer(file.read(count * dtype.itemsize),
                                       dtype)
  return state, storages


def _read_entry(archive, name, file_size, needed=None):
  """The bytes of zip entry `name`, at most `needed` of them.

  torch stores entries uncompressed: one that declares more bytes than the
  whole file is refused before reading (a zip bomb stops there)."""
  try:
    info = archive.getinfo(name)
  except KeyError:
    raise pickle.UnpicklingError(f"no entry {name} in the archive") from None
  if info.file_size > file_size:
    raise pickle.UnpicklingError(
        f"{name} declares {info.file_size} bytes, more than the file's "
        f"{file_size}")
  with archive.open(info) as entry:
    return entry.read(info.file_size if needed is None else
                      min(needed, info.file_size))


def _zip(archive, file_size):
  """The object and its storages' bytes of a zip-layout archive."""
  pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")
             and n.count("/") == 1]
  if len(pickles) != 1:
    raise pickle.UnpicklingError("no <name>/data.pkl in the archive")
  prefix = pickles[0][:-len("data.pkl")]
  state = _unpickle(io.BytesIO(_read_entry(archive, pickles[0], file_size)))
  order = "<"
  if prefix + "byteorder" in archive.namelist():
    order = {"little": "<", "big": ">"}[
        _read_entry(archive, prefix + "byteorder", file_size, 16).decode()
        .strip()]
  storages = {}
  for key, dtype in _dtypes(state).items():
    dtype = dtype.newbyteorder(order)
    needed = max(t.storage.offset + t.storage.numel for t in state.values()
                 if t.storage.key == key)
    data = _read_entry(archive, f"{prefix}data/{key}", file_size,
                       needed * dtype.itemsize)
    storages[key] = np.frombuffer(data[:len(data) // dtype.itemsize *
                                       dtype.itemsize], dtype)
  return state, storages


def _tensors(state):
  if not isinstance(state, dict) or not all(
      isinstance(k, str) and isinstance(v, _Tensor) for k, v in state.items()):
    raise pickle.UnpicklingError("not a state dict (names -> tensors)")
  return state


def _dtypes(state):
  """{storage key: dtype}; one key of two dtypes is refused."""
  dtypes = {}
  for tensor in _tensors(state).values():
    dtype = np.dtype("<" + tensor.storage.dtype)
    if dtypes.setdefault(tensor.storage.key, dtype) != dtype:
      raise pickle.UnpicklingError(
          f"storage {tensor.storage.key} has two element types")
  return dtypes


def _checked_layout(tensor, length):
  """Raises unless `tensor` is a valid view of `length` storage elements."""
  size, stride, offset = tensor.size, tensor.stride, tensor.offset
  if not all(isinstance(n, int) for n in (offset, *size, *stride)):
    raise pickle.UnpicklingError("sizes, strides and offsets must be ints")
  if len(size) != len(stride) or min(stride + size, default=0) < 0:
    raise pickle.UnpicklingError(f"bad size {size} or stride {stride}")
  if 0 in size:
    return
  last = offset + sum((n - 1) * s for n, s in zip(size, stride))
  if offset < 0 or last >= length:
    raise pickle.UnpicklingError("a tensor reaches outside its storage")
  # A tensor is a view: its elements can repeat (stride 0), but a weight
  # file has no use for more of them than its storage holds.
  if np.prod(size, dtype=object) > length:
    raise pickle.UnpicklingError(
        f"a tensor of size {size} has more elements than its storage "
        f"({length})")


def _array(tensor, storages):
  """The tensor's elements as a new array (views and strides resolved)."""
  storage = tensor.storage
  data = storages[storage.key]
  if storage.offset + storage.numel > len(data):
    raise pickle.UnpicklingError(f"storage {storage.key} is shorter than "
                                 "its tensors claim")
  data = data[storage.offset:storage.offset + storage.numel]
  _checked_layout(tensor, len(data))
  if 0 in tensor.size:
    return np.zeros(tensor.size, data.dtype.newbyteorder("="))
  view = np.lib.stride_tricks.as_strided(
      data[tensor.offset:], tensor.size,
      [s * data.itemsize for s in tensor.stride], writeable=False)
  return view.astype(data.dtype.newbyteorder("="))


def read_torch(path):
  """{name: numpy array} of a `torch.save`d state dict, either layout.

  Every problem with the file raises `WeightsError` (`UnsafeFileError` for
  a pickle that asks for code), before any allocation larger than the file
  (a zip entry's declared size counts)."""
  try:
    file_size = os.path.getsize(path)
    if zipfile.is_zipfile(path):
      with zipfile.ZipFile(path) as archive:
        state, storages = _zip(archive, file_size)
    else:
      with open(path, "rb") as f:
        state, storages = _legacy(f, file_size)
    return {name: _array(t, storages) for name, t in state.items()}
  except errors.UnsafeFileError as e:
    raise errors.UnsafeFileError(f"{path}: {e}") from None
  except OSError as e:
    raise errors.WeightsError(f"{path}: cannot read ({e})") from None
  except Exception as e:  # pylint: disable=broad-except
    # Any failure of the pickle machinery, zipfile or zlib on foreign bytes.
    reason = str(e).splitlines()[0][:200] if str(e) else ""
    raise errors.WeightsError(f"{path}: not a PyTorch state dict that tfpc "
                              f"can read ({type(e).__name__}: {reason})"
                              ) from None


def identify(arrays):
  """The name in `NETWORKS` whose arrays these are (keys and shapes), or None.

  Keys outside the network's families (e.g. torchvision's `classifier.*`)
  are ignored; inside them, keys and shapes must match exactly.
  """
  for name, network in NETWORKS.items():
    families = {key.split(".")[0] for key in network.shapes}
    found = {key: tuple(array.shape) for key, array in arrays.items()
             if key.split(".")[0] in families}
    if found == network.shapes:
      return name
  return None


def weights_dir(directory=None):
  """`directory`, else $TFPC_WEIGHTS_DIR, else ~/.cache/tfpc/weights."""
  cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
      os.path.expanduser("~"), ".cache")
  return (directory or os.environ.get("TFPC_WEIGHTS_DIR") or
          os.path.join(cache, "tfpc", "weights"))


def convert(path, directory=None):
  """Writes the network weights in file `path` to the weights folder.

  Returns (network name, path of the .npz written).
  """
  arrays = read_torch(path)
  name = identify(arrays)
  if name is None:
    raise errors.WeightsError(
        f"{path}: not weights of a network tfpc knows ({', '.join(NETWORKS)}"
        f"); its keys begin {sorted(arrays)[:3]}")
  directory = weights_dir(directory)
  os.makedirs(directory, exist_ok=True)
  output = os.path.join(directory, f"{name}.npz")
  with files.replacing(output) as temporary, open(temporary, "wb") as f:
    np.savez(f, **{key: arrays[key].astype(np.float32)
                   for key in NETWORKS[name].shapes})
  return name, output


def find(name, directory=None):
  """Path of network `name`'s arrays: in the weights folder, else shipped.

  Raises a `WeightsError` that says which file to get and how to convert it
  when there is none."""
  folder = weights_dir(directory)
  for path in (os.path.join(folder, f"{name}.npz"),
               os.path.join(SHIPPED, f"{name}.npz")):
    if os.path.exists(path):
      return path
  raise errors.WeightsError(
      f"{name}.npz not found in {folder}: get {NETWORKS[name].source} and "
      "convert it once with `tfpc_weights FILE` (--weights_dir or "
      "$TFPC_WEIGHTS_DIR choose the folder)")


def load(name, directory=None):
  """The arrays of network `name` (`find` says where they are)."""
  path = find(name, directory)
  with np.load(path, allow_pickle=False) as stored:
    arrays = {key: stored[key] for key in stored.files}
  if identify(arrays) != name:
    raise errors.WeightsError(f"{path}: not the {name} weights; convert "
                              "the file again with tfpc_weights")
  return arrays
