#!/usr/bin/python3
"""Generate the golden HDF5 fixtures for engine/internal/hdf5 and expected.json.

Run with Debian's interpreter, which has h5py and numpy:

    cd engine/internal/hdf5/testdata && /usr/bin/python3 gen.py

Fixtures listed in GZIPPED are stored as NAME.h5.gz (the Go tests
decompress them). The output is deterministic: random data is seeded, and object modification
times are switched off everywhere (files, groups and datasets), so running
it twice gives byte-identical .h5 files and the same expected.json.

expected.json maps each fixture file name to what h5py itself reads back:

    {"file.h5": {
        "superblock": 0,
        "groups":   {"/path": ["member", ...]},          # order as Group.Members
        "datasets": {"/path": {"shape": [...], "class": "float",
                               "values": [...]}         # flat, float64
                     | {"error": "substring"}},          # Float32s must fail
        "attrs":    {"/objpath": {"name": {"shape": [...], "class": "string",
                                           "strings": [...]}
                                  | {..., "class": "int", "ints": [...]}
                                  | {..., "class": "float", "floats": [...]}}},
        "attr_names": {"/objpath": ["name", ...]}}}      # order as Attrs
"""

import gzip
import json
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

LIBVERS = {
    "earliest": (h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_LATEST),
    "v18": (h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_V18),
    "latest": (h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST),
}


def make_file(path, libver, istore_k=None):
    """Create a file with times off and the given library version bounds."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(*LIBVERS[libver])
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fcpl.set_link_creation_order(0)
    if istore_k is not None:
        # h5py does not wrap H5Pset_istore_k; a non-default value is what
        # makes the library write superblock version 1.
        import ctypes
        lib = ctypes.CDLL("libhdf5_serial.so.103")
        lib.H5Pset_istore_k.argtypes = [ctypes.c_int64, ctypes.c_uint]
        if lib.H5Pset_istore_k(fcpl.id, istore_k) < 0:
            raise RuntimeError("H5Pset_istore_k failed")
    fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl)
    return h5py.File(fid)


def mkgroup(parent, name, track_order=False):
    """Create a group without modification times (h5py's API always adds them)."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    if track_order:
        flags = h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED
        gcpl.set_link_creation_order(flags)
        gcpl.set_attr_creation_order(flags)
    gid = h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl)
    return h5py.Group(gid)


def dset(parent, name, data, **kw):
    kw.setdefault("track_times", False)
    return parent.create_dataset(name, data=data, **kw)


def lowlevel_dset(parent, name, arr, layout, chunks=None, early=False):
    """Create a dataset through the low-level API (compact, implicit index)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)
    if layout == "compact":
        dcpl.set_layout(h5py.h5d.COMPACT)
    elif layout == "chunked":
        dcpl.set_chunk(chunks)
    if early:
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    space = h5py.h5s.create_simple(arr.shape)
    tid = h5py.h5t.py_create(arr.dtype)
    dsid = h5py.h5d.create(parent.id, name.encode(), tid, space, dcpl=dcpl)
    dsid.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(arr))
    dsid.close()


def keras_like(f, rng):
    """A tiny Keras-shaped model file layout."""
    f.attrs["model_config"] = json.dumps(
        {"class_name": "Sequential", "config": {"name": "seq", "layers": []}})
    f.attrs["keras_version"] = np.bytes_(b"2.4.0")
    f.attrs["backend"] = "tensorflow"
    mw = mkgroup(f, "model_weights")
    mw.attrs["layer_names"] = np.array([b"conv2d", b"dense", b"flatten"])
    mw.attrs["backend"] = np.bytes_(b"tensorflow")
    conv = mkgroup(mw, "conv2d")
    conv.attrs["weight_names"] = np.array([b"conv2d/kernel:0", b"conv2d/bias:0"])
    inner = mkgroup(conv, "conv2d")
    dset(inner, "kernel:0", rng.standard_normal((3, 3, 1, 2)).astype("<f4"))
    dset(inner, "bias:0", rng.standard_normal((2,)).astype("<f4"))
    dense = mkgroup(mw, "dense")
    dense.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
    inner = mkgroup(dense, "dense")
    dset(inner, "kernel:0", rng.standard_normal((18, 5)).astype("<f4"),
         chunks=(7, 3), compression="gzip", shuffle=True)
    dset(inner, "bias:0", np.zeros((5,), "<f4"))
    flat = mkgroup(mw, "flatten")
    flat.attrs["weight_names"] = np.array([])


def dtypes(f, rng):
    g = mkgroup(f, "dtypes")
    ints = np.array([0, 1, -2, 3, -100, 127], dtype=np.int64)
    for dt in ["<i1", "<i2", "<i4", "<i8", ">i2", ">i4", ">i8"]:
        dset(g, "int_" + dt.replace("<", "le").replace(">", "be"), ints.astype(dt))
    uints = np.array([0, 1, 2, 200, 255, 42], dtype=np.uint64)
    for dt in ["<u1", "<u2", "<u4", "<u8", ">u2", ">u4", ">u8"]:
        dset(g, "uint_" + dt.replace("<", "le").replace(">", "be"), uints.astype(dt))
    fl = rng.standard_normal((2, 3))
    for dt in ["<f2", "<f4", "<f8", ">f4", ">f8", ">f2"]:
        dset(g, "float_" + dt.replace("<", "le").replace(">", "be"), fl.astype(dt))
    dset(g, "scalar_f8", np.float64(2.5))
    dset(g, "scalar_i4", np.int32(-7))
    dset(g, "empty_f4", np.zeros((0,), "<f4"))
    dset(g, "empty_2d", np.zeros((3, 0), "<f8"))
    dset(g, "fixed_strings", np.array([b"ab", b"cde"]))


def layouts(f, rng, latest):
    g = mkgroup(f, "layouts")
    a = rng.standard_normal((4, 5)).astype("<f4")
    dset(g, "contiguous", a)
    lowlevel_dset(g, "compact", a, "compact")
    dset(g, "chunk_single", a, chunks=(4, 5))
    dset(g, "chunk_single_gzip", a, chunks=(4, 5), compression="gzip")
    b = rng.standard_normal((7, 5, 3)).astype("<f4")
    dset(g, "chunk_edges", b, chunks=(3, 2, 2))
    dset(g, "chunk_edges_gzip_shuffle", b, chunks=(3, 2, 2),
         compression="gzip", compression_opts=9, shuffle=True)
    dset(g, "chunk_shuffle_only", b.astype("<f8"), chunks=(4, 4, 3), shuffle=True)
    dset(g, "chunk_maxshape", a, chunks=(2, 2), maxshape=(6, 9))
    lowlevel_dset(g, "chunk_implicit", b, "chunked", chunks=(3, 2, 2), early=True)
    # Partly written: unwritten chunks read as the fill value.
    d = g.create_dataset("chunk_partial", shape=(10,), dtype="<i4", chunks=(3,),
                         fillvalue=7, track_times=False)
    d[0:3] = [1, 2, 3]
    d[9] = 9
    # Never written contiguous dataset: all fill value.
    g.create_dataset("contiguous_unwritten", shape=(3,), dtype="<f4",
                     fillvalue=1.5, track_times=False)
    if latest:
        # Many small chunks: more than one Fixed Array data block page (1024
        # entries). Only under libver latest: a v1 B-tree for this is big.
        dset(g, "chunk_many", np.arange(1100, dtype="<i2"), chunks=(1,))


def unlimited(f, rng):
    """Chunked datasets whose index is an Extensible Array / v2 B-tree under
    libver latest (refused), a v1 B-tree otherwise (supported)."""
    g = mkgroup(f, "unlimited")
    a = rng.standard_normal((4, 5)).astype("<f4")
    dset(g, "one_unlimited", a, chunks=(2, 2), maxshape=(None, 5))
    dset(g, "two_unlimited", a, chunks=(2, 2), maxshape=(None, None))


def refused(f):
    """Valid HDF5 this package refuses to read (expected errors)."""
    g = mkgroup(f, "refused")
    a = np.arange(6, dtype="<f4")
    dset(g, "lzf", a, chunks=(3,), compression="lzf")
    dset(g, "fletcher32", a, chunks=(3,), fletcher32=True)
    dset(g, "compound", np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]))


REFUSED = {
    "/refused/lzf": "lzf",
    "/refused/fletcher32": "fletcher32",
    "/refused/compound": "compound",
}


def strings(f):
    g = mkgroup(f, "strings")
    g.attrs["fixed_scalar"] = np.bytes_(b"hello")
    g.attrs["fixed_array"] = np.array([b"a", b"bc", b"def"])
    g.attrs["fixed_empty_string"] = np.bytes_(b"")
    g.attrs["vlen_scalar"] = "h\u00e9llo w\u00f6rld"
    g.attrs["vlen_array"] = np.array(["x", "yz", ""], dtype=h5py.string_dtype())
    g.attrs["vlen_ascii"] = np.array([b"p", b"qr"], dtype=h5py.string_dtype("ascii"))
    g.attrs["int_scalar"] = np.int64(-9007199254740993)
    g.attrs["int_array"] = np.array([1, -2, 3], dtype="<i4")
    g.attrs["uint_be"] = np.array([65535, 1], dtype=">u2")
    g.attrs["float_array"] = np.array([0.5, -1.25], dtype="<f8")
    g.attrs["float_scalar_be"] = np.array(3.5, dtype=">f4")
    g.attrs["empty"] = np.array([])
    g.attrs["space_padded"] = np.array(b"ab  ", dtype="S4")


def many(f, n, rng):
    """A group with n hard links (all to one small group, to keep files small)
    and one with n attributes."""
    g = mkgroup(f, "many%d" % n)
    target = mkgroup(f, "target%d" % n)
    dset(target, "x", np.array([1.0, 2.0], "<f4"))
    for i in range(n):
        g["m%03d" % ((i * 37) % n)] = target
    a = mkgroup(f, "attrs%d" % n)
    for i in range(n):
        a.attrs["a%03d" % ((i * 37) % n)] = np.int32(i)


def ordered(f):
    g = mkgroup(f, "ordered", track_order=True)
    for name in ["zeta", "alpha", "mid", "beta", "omega", "a1", "a2", "a3", "a4", "a5"]:
        mkgroup(g, name)
    for name in ["z", "b", "y", "a", "c", "d", "e", "f", "g", "h"]:
        g.attrs[name] = np.bytes_(name.encode())


def tiny(f):
    """A small file exercising most structures, mainly as a fuzzing seed."""
    f.attrs["s"] = "vlen"
    f.attrs["names"] = np.array([b"a", b"bc"])
    g = mkgroup(f, "g")
    for i in range(9):
        g.attrs["a%d" % i] = np.int16(i)
        g["l%d" % i] = f  # hard links back to the root: a cycle
    dset(f, "z", np.arange(12, dtype="<f4").reshape(3, 4), chunks=(2, 4),
         compression="gzip", shuffle=True)


def huge(f):
    """An attribute too big for a fractal heap block: a "huge" heap object
    (only possible under libver latest). Stored gzipped: mostly padding."""
    g = mkgroup(f, "g")
    g.attrs["big"] = np.array(b"start" + b"x" * 100 + b"end", dtype="S70000")
    g.attrs["small"] = np.int8(3)


# Fixtures committed gzipped (as NAME.gz), being large but compressible.
GZIPPED = {"huge_latest.h5"}

FILES = {
    # name: (libver, istore_k, content functions)
    "earliest.h5": ("earliest", None, ["keras", "dtypes", "layouts", "strings", "unlimited",
                                         "refused"]),
    "latest.h5": ("latest", None, ["keras", "dtypes", "layouts", "strings", "unlimited",
                                   "refused"]),
    "v18.h5": ("v18", None, ["keras", "strings", "many9", "ordered"]),
    "sb1.h5": ("earliest", 48, ["keras"]),
    "many_earliest.h5": ("earliest", None, ["many9", "many120", "ordered"]),
    "many_latest.h5": ("latest", None, ["many9", "many120", "ordered"]),
    "tiny_earliest.h5": ("earliest", None, ["tiny"]),
    "tiny_latest.h5": ("latest", None, ["tiny"]),
    "huge_latest.h5": ("latest", None, ["huge"]),
}


def populate(f, parts, latest):
    rng = np.random.RandomState(1234)
    for p in parts:
        if p == "keras":
            keras_like(f, rng)
        elif p == "dtypes":
            dtypes(f, rng)
        elif p == "layouts":
            layouts(f, rng, latest)
        elif p == "strings":
            strings(f)
        elif p == "unlimited":
            unlimited(f, rng)
        elif p == "refused":
            refused(f)
        elif p == "huge":
            huge(f)
        elif p == "tiny":
            tiny(f)
        elif p == "ordered":
            ordered(f)
        elif p.startswith("many"):
            many(f, int(p[4:]), rng)
        else:
            raise ValueError(p)


def attr_value(v):
    a = np.asarray(v)
    shape = list(a.shape)
    if a.dtype.kind in "SUO":
        strs = []
        for x in a.ravel():
            if isinstance(x, bytes):
                x = x.decode("utf-8")
            strs.append(x)
        return {"shape": shape, "class": "string", "strings": strs}
    if a.dtype.kind in "iu":
        return {"shape": shape, "class": "int", "ints": [int(x) for x in a.ravel()]}
    if a.dtype.kind == "f":
        return {"shape": shape, "class": "float", "floats": [float(x) for x in a.ravel()]}
    raise ValueError(a.dtype)


def ordered_names(obj, names, kind):
    """Names in the order our Go API promises: creation order when tracked,
    else sorted by (UTF-8) name."""
    cpl = obj.id.get_create_plist()
    crt = cpl.get_link_creation_order() if kind == "links" else cpl.get_attr_creation_order()
    if crt & h5py.h5p.CRT_ORDER_TRACKED:
        return list(names)  # h5py iterates in creation order here
    return sorted(names)


def describe(path, errors):
    out = {"groups": {}, "datasets": {}, "attrs": {}, "attr_names": {}}
    with h5py.File(path, "r") as f:
        with open(path, "rb") as fh:
            out["superblock"] = fh.read(9)[8]
        seen = set()

        def visit_attrs(name, obj):
            names = ordered_names(obj, list(obj.attrs.keys()), "attrs")
            out["attr_names"][name] = names
            if names:
                out["attrs"][name] = {k: attr_value(obj.attrs[k]) for k in names}

        def walk(name, g):
            addr = h5py.h5o.get_info(g.id).addr
            out["groups"][name] = ordered_names(g, list(g.keys()), "links")
            visit_attrs(name, g)
            if addr in seen:
                return
            seen.add(addr)
            for k in g.keys():
                child = g[k]
                cpath = (name.rstrip("/") + "/" + k)
                if isinstance(child, h5py.Group):
                    walk(cpath, child)
                else:
                    visit_attrs(cpath, child)
                    if cpath in errors:
                        out["datasets"][cpath] = {"error": errors[cpath]}
                        continue
                    if child.dtype.kind in "SUO":
                        out["datasets"][cpath] = {"error": "not numeric"}
                        continue
                    v = child[()]
                    out["datasets"][cpath] = {
                        "shape": list(child.shape),
                        "class": "float" if child.dtype.kind == "f" else "int",
                        "values": [float(x) for x in np.asarray(v, dtype=np.float64).ravel()],
                    }

        walk("/", f)
    return out


def main():
    expected = {}
    for name, (libver, k, parts) in FILES.items():
        path = os.path.join(HERE, name)
        with make_file(path, libver, k) as f:
            populate(f, parts, libver == "latest")
        errors = dict(REFUSED) if "refused" in parts else {}
        if libver == "latest" and "unlimited" in parts:
            errors["/unlimited/one_unlimited"] = "extensible array"
            errors["/unlimited/two_unlimited"] = "v2 B-tree"
        expected[name] = describe(path, errors)
        if name in GZIPPED:
            with open(path, "rb") as fh:
                raw = fh.read()
            with open(path + ".gz", "wb") as fh:
                fh.write(gzip.compress(raw, mtime=0))
            os.remove(path)
    with open(os.path.join(HERE, "expected.json"), "w") as fh:
        json.dump(expected, fh, sort_keys=True, separators=(",", ":"))
        fh.write("\n")


if __name__ == "__main__":
    main()
