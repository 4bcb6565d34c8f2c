"""Write Keras model files without Keras: tf.keras 2.x HDF5 (.h5) in
exactly the layout model.save("x.h5") writes, from plain layer specs.

A model is a list of dicts (conv, pool, dense, bn, ... below) each with a
"name", its input shape "in_shape" and its weights "w" by Keras role
(kernel, bias, gamma, beta, moving_mean, moving_variance). Files are
reproducible: no HDF5 object carries a timestamp.

Used by gen_parity.py (reference fixtures) and train/train.py (the default
model). Needs h5py and numpy.
"""

import json
import os

import h5py
import numpy as np

KERAS2_VERSION = "2.12.0"

# ---------------------------------------------------------------------------
# Layer specs.

def conv(filters, k=3, s=1, padding="valid", act="linear", bias=True, **kw):
    k = (k, k) if isinstance(k, int) else tuple(k)
    s = (s, s) if isinstance(s, int) else tuple(s)
    return dict(cls="Conv2D", filters=filters, k=k, s=s, padding=padding, act=act, bias=bias, **kw)


def pool(kind, k=2, s=None, padding="valid", **kw):
    k = (k, k) if isinstance(k, int) else tuple(k)
    s = k if s is None else ((s, s) if isinstance(s, int) else tuple(s))
    return dict(cls="MaxPooling2D" if kind == "max" else "AveragePooling2D", k=k, s=s, padding=padding, **kw)


def dense(units, act="linear", bias=True, **kw):
    return dict(cls="Dense", units=units, act=act, bias=bias, **kw)


def bn(center=True, scale=True, eps=1e-3, **kw):
    return dict(cls="BatchNormalization", center=center, scale=scale, eps=eps, **kw)


def activation(act, **kw):
    return dict(cls="Activation", act=act, **kw)


def relu_layer(max_value=None, **kw):
    return dict(cls="ReLU", max_value=max_value, **kw)


def dropout(rate=0.4, **kw):
    return dict(cls="Dropout", rate=rate, **kw)


def flatten(**kw):
    return dict(cls="Flatten", **kw)


def gap(**kw):
    return dict(cls="GlobalAveragePooling2D", **kw)


def rescaling(scale, offset, **kw):
    return dict(cls="Rescaling", scale=scale, offset=offset, **kw)


# ---------------------------------------------------------------------------
# HDF5 helpers: no timestamps anywhere, so files are reproducible.


def h5create(path, libver=None):
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    if libver == "latest":
        fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fid = h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl)
    return h5py.File(fid)


def mkgroup(parent, path):
    """Creates (or opens) the groups along path."""
    g = parent
    for part in path.split("/"):
        if part in g:
            g = g[part]
            continue
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_obj_track_times(False)
        g = h5py.Group(h5py.h5g.create(g.id, part.encode(), gcpl=gcpl))
    return g


class Fill:
    """A float32 dataset of this shape that stores nothing: every element
    is the fill value (HDF5 allocates no storage until data is written).
    For the loader's refusal of files whose weights are not in them."""

    def __init__(self, shape, value):
        self.shape, self.value = tuple(shape), value


def put(group, path, value, compress=False):
    """Writes a dataset at path (relative to group), creating the groups on
    the way as h5py's create_dataset does for names with slashes."""
    parent, _, base = path.rpartition("/")
    g = mkgroup(group, parent) if parent else group
    if isinstance(value, Fill):
        return g.create_dataset(base, shape=value.shape, dtype="<f4", fillvalue=value.value, track_times=False)
    value = np.asarray(value)
    kw = dict(track_times=False)
    if compress and value.ndim > 0:
        kw.update(chunks=value.shape, compression="gzip", compression_opts=6, shuffle=True)
    d = g.create_dataset(base, shape=value.shape, dtype=value.dtype, **kw)
    if value.ndim == 0:
        d[()] = value
    else:
        d[...] = value
    return d


# ---------------------------------------------------------------------------
# tf.keras 2.x HDF5 layout.

K2_GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
K2_ZEROS = {"class_name": "Zeros", "config": {}}
K2_ONES = {"class_name": "Ones", "config": {}}
K2_TRAINING_CONFIG = {
    "loss": "binary_crossentropy",
    "metrics": [[{"class_name": "MeanMetricWrapper",
                  "config": {"name": "accuracy", "dtype": "float32", "fn": "binary_accuracy"}}]],
    "weighted_metrics": None,
    "loss_weights": None,
    "optimizer_config": {"class_name": "Custom>Adam", "config": {
        "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
        "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
        "is_legacy_optimizer": False, "learning_rate": 0.0010000000474974513, "beta_1": 0.9,
        "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}},
}


def k2_layer_config(L, batch_input_shape=None, keras3=False):
    """The "config" dict of one layer (tf.keras 2.12 get_config, or Keras 3
    when keras3 is a dtype value)."""
    if keras3:
        init = lambda cls, cfg: {"module": "keras.initializers", "class_name": cls, "config": cfg,  # noqa: E731
                                 "registered_name": None}
        glorot, zeros, ones = init("GlorotUniform", {"seed": None}), init("Zeros", {}), init("Ones", {})
        dtype = keras3
    else:
        glorot, zeros, ones, dtype = K2_GLOROT, K2_ZEROS, K2_ONES, "float32"
    c = {"name": L["name"], "trainable": True, "dtype": dtype}
    if batch_input_shape is not None:
        c["batch_input_shape"] = batch_input_shape
    cls = L["cls"]
    reg = {"kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
           "kernel_constraint": None, "bias_constraint": None}
    if cls == "Conv2D":
        c.update(filters=L["filters"], kernel_size=list(L["k"]), strides=list(L["s"]), padding=L["padding"],
                 data_format="channels_last", dilation_rate=[1, 1], groups=L.get("groups", 1), activation=L["act"],
                 use_bias=L["bias"], kernel_initializer=glorot, bias_initializer=zeros, **reg)
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        c.update(pool_size=list(L["k"]), padding=L["padding"], strides=list(L["s"]), data_format="channels_last")
    elif cls == "Dense":
        c.update(units=L["units"], activation=L["act"], use_bias=L["bias"], kernel_initializer=glorot,
                 bias_initializer=zeros, **reg)
    elif cls == "BatchNormalization":
        axis = -1 if keras3 else [len(L["in_shape"])]
        c.update(axis=axis, momentum=0.99, epsilon=L["eps"], center=L["center"], scale=L["scale"],
                 beta_initializer=zeros, gamma_initializer=ones, moving_mean_initializer=zeros,
                 moving_variance_initializer=ones, beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None)
        if keras3:
            c["synchronized"] = False
    elif cls == "Activation":
        c["activation"] = L["act"]
    elif cls == "ReLU":
        c.update(max_value=None if L["max_value"] is None else float(L["max_value"]),
                 negative_slope=0.0, threshold=0.0)
    elif cls == "Dropout":
        c.update(rate=L["rate"], noise_shape=None, seed=None)
    elif cls == "Flatten":
        c["data_format"] = "channels_last"
    elif cls == "GlobalAveragePooling2D":
        c.update(data_format="channels_last", keepdims=False)
    elif cls == "Rescaling":
        c.update(scale=L["scale"], offset=L["offset"])
    c.update(L.get("config_extra", {}))
    for k in L.get("config_drop", ()):
        c.pop(k, None)
    return c


def k2_input_config(name, shape, keras_old=False):
    return {"batch_input_shape": [None] + list(shape), "dtype": "float32", "sparse": False,
            "ragged": False, "name": name}


def k2_sequential_config(layers, in_shape, name="sequential", input_layer=True):
    cfg_layers = []
    if input_layer:
        cfg_layers.append({"class_name": "InputLayer",
                           "config": k2_input_config(layers[0]["name"] + "_input", in_shape)})
    for i, L in enumerate(layers):
        bis = [None] + list(in_shape) if i == 0 else None
        cfg_layers.append({"class_name": L.get("class_name", L["cls"]), "config": k2_layer_config(L, bis)})
    return {"class_name": "Sequential", "config": {"name": name, "layers": cfg_layers}}


def k2_functional_config(layers, in_shape, name="model", input_name="input_1"):
    cfg_layers = [{"class_name": "InputLayer", "config": k2_input_config(input_name, in_shape),
                   "name": input_name, "inbound_nodes": []}]
    prev = input_name
    for L in layers:
        cfg_layers.append({"class_name": L.get("class_name", L["cls"]), "config": k2_layer_config(L),
                           "name": L["name"], "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = L["name"]
    return {"class_name": "Functional", "config": {
        "name": name, "trainable": True, "layers": cfg_layers,
        "input_layers": [[input_name, 0, 0]], "output_layers": [[prev, 0, 0]]}}


def k2_weight_list(L):
    """[(weight name, array)] in Keras' order (trainable, then not)."""
    if "weight_list" in L:
        return L["weight_list"]
    order = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]
    return [(f"{L['name']}/{r}:0", L["w"][r]) for r in order if r in L["w"]]


def write_keras2_h5(path, model_config, weight_layers, *, libver=None, compress=False, strings="h5py3",
                    keras_version=KERAS2_VERSION, training_config=True, extra_attrs=None,
                    optimizer_weights=None, skip_datasets=()):
    """weight_layers: [(layer name, [(weight name, array)])] for model.layers.

    strings="h5py3" makes the same h5py calls as tf.keras 2.x
    (hdf5_format.save_model_to_hdf5): keras_version and backend are set as
    str, model_config and training_config as encoded bytes, name lists as
    Python lists of bytes. With h5py 3 every one of them becomes a
    variable-length string (UTF-8 for str, ASCII for bytes), which is what
    files saved since h5py 3.0 (2020) hold. strings="fixed" writes
    fixed-length strings instead, as h5py 2.x did for bytes and as
    standalone Keras 2.2 (which encoded every attribute) wrote."""
    fixed = strings == "fixed"
    with h5create(path, libver) as f:
        enc = (lambda s: np.bytes_(s.encode("utf8"))) if fixed else (lambda s: s)
        blob = (lambda s: np.bytes_(s.encode("utf8"))) if fixed else (lambda s: s.encode("utf8"))
        f.attrs["keras_version"] = enc(keras_version)
        f.attrs["backend"] = enc("tensorflow")
        f.attrs["model_config"] = blob(json.dumps(model_config))
        if training_config:
            f.attrs["training_config"] = blob(json.dumps(K2_TRAINING_CONFIG))
        for k, v in (extra_attrs or {}).items():
            f.attrs[k] = v
        mw = mkgroup(f, "model_weights")
        write_keras2_weights(mw, weight_layers, keras_version, compress, skip_datasets, fixed)
        if optimizer_weights:
            og = mkgroup(f, "optimizer_weights")
            og.attrs["weight_names"] = name_list([n for n, _ in optimizer_weights], fixed)
            for n, v in optimizer_weights:
                put(og, n, v, compress)


def name_list(names, fixed):
    """Keras' save_attributes_to_hdf5_group(group, name, [n.encode() ...])."""
    data = [n.encode("utf8") for n in names]
    if fixed:
        return np.array(data) if data else []
    return data  # [] becomes an empty float64 array


def write_keras2_weights(mw, weight_layers, keras_version, compress=False, skip_datasets=(), fixed=False):
    mw.attrs["layer_names"] = name_list([n for n, _ in weight_layers], fixed)
    blob = np.bytes_ if fixed else bytes
    mw.attrs["backend"] = blob(b"tensorflow")
    mw.attrs["keras_version"] = blob(keras_version.encode("utf8"))
    for lname, ws in weight_layers:
        g = mkgroup(mw, lname)
        g.attrs["weight_names"] = name_list([n for n, _ in ws], fixed)
        for n, v in ws:
            if n in skip_datasets:
                continue
            put(g, n, v, compress)


def keras2_model_layers(layers, functional_input=None):
    out = []
    if functional_input:
        out.append((functional_input, []))
    for L in layers:
        out.append((L["name"], k2_weight_list(L)))
    return out


def write_sequential_h5(path, layers, in_shape, name, extra_attrs=None):
    """Writes layers as a tf.keras 2.x Sequential model file."""
    write_keras2_h5(path, k2_sequential_config(layers, in_shape, name=name), keras2_model_layers(layers),
                    extra_attrs=extra_attrs)
