#!/usr/bin/python3
"""test-issue19.py - "Nothing lost, nothing silent" (issue 19), one check per
item, run as one meson test each.

usage: test-issue19.py ITEM TRAITSCOPE_CLI TRAITSCOPE_APP

ITEM is one of the names in TESTS below.  Real components throughout: models
made by `init` (tests/app/tiny.arch) and `convert`, faces from
$TS_SHARED_DATA/celebahq, the app under Xvfb.  A check that needs what is
missing (data, xvfb-run, the app) exits 77 saying why.

Full disk: the command runs with its output folder on a small tmpfs mounted
in a private mount namespace (`unshare -rm`), filled up to leave just the
bytes the check needs.  Where no tmpfs can be mounted, the same check runs
with TS_TEST_DISK_FREE_BYTES (fileio.h's hook), which makes the atomic
writes of the command see a disk with that many free bytes.
"""
import atexit
import errno
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ITEM, CLI, APP = sys.argv[1], sys.argv[2], sys.argv[3]
INSIDE = sys.argv[4] if len(sys.argv) > 4 else None  # the tmpfs, when re-run inside a namespace
SRC = os.environ.get("TS_SOURCE_ROOT", ".")
DATA = os.environ.get("TS_SHARED_DATA", "")
ARCH = os.path.join(SRC, "tests", "app", "tiny.arch")
failures = 0


_made = []


def mktmp():
    """A temporary folder, removed when the check exits, however it exits."""
    d = tempfile.mkdtemp(prefix="ts-i19-")
    _made.append(d)
    return d


atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _made])


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAILED: ") + what, file=sys.stderr if not cond else sys.stdout)
    if not cond:
        failures += 1
    return cond


def skip(why):
    print("skip:", why)
    sys.exit(77)


def run(args, env=None, timeout=300):
    """rc, stdout bytes, stderr bytes (bytes: names need not be UTF-8); rc
    'timeout' when it ran past `timeout` seconds, and then its whole process
    group (xvfb-run, Xvfb, the app) is killed."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        return "timeout", out or b"", err or b""
    return p.returncode, out, err


def cli(*args, env=None, timeout=300):
    return run([CLI, *args], env=env, timeout=timeout)


def text(b):
    return b.decode("utf-8", "replace")


def faces(n):
    d = os.path.join(DATA, "celebahq", "images")
    got = [os.path.join(d, f) for f in sorted(os.listdir(d))[:n]] if os.path.isdir(d) else []
    if len(got) < n:
        skip(f"needs {n} face images in {d}")
    return got


def make_model(path, seed=1, size=64, channels=3, trait=None, classes=None):
    args = ["init", "--arch", ARCH, "--size", str(size), "--in-channels", str(channels), "--seed", str(seed),
            "--out", path]
    if trait:
        args += ["--trait", trait]
    if classes:
        args += ["--classes", str(len(classes)), "--class-names", ",".join(classes)]
    rc, out, err = cli(*args)
    if rc != 0:
        print(text(err), file=sys.stderr)
        sys.exit(1)
    return path


def files_of(d):
    return {f: open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))
            if os.path.isfile(os.path.join(d, f))}


def need_app():
    if not os.access(APP, os.X_OK):
        skip("the app was not built (no GTK 4)")
    if not shutil.which("xvfb-run"):
        skip("xvfb-run not installed")


def app(args, timeout=90, env=None):
    """Runs the app under Xvfb, its remembered state in a fresh folder; rc
    'timeout' when it did not exit."""
    with tempfile.TemporaryDirectory() as config:
        e = dict(env or os.environ, XDG_CONFIG_HOME=config)
        pre = ["dbus-run-session", "--"] if shutil.which("dbus-run-session") else []
        return run(pre + ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", APP, *args], env=e, timeout=timeout)


# ---- a disk that is (nearly) full ------------------------------------------------

class Disk:
    """The folder a full-disk check writes to: a small tmpfs (mode 'tmpfs'),
    or an ordinary folder with the fileio hook (mode 'hook')."""

    PAGE = 4096

    def __init__(self, root, mode):
        self.root, self.mode = root, mode

    def leave(self, first, second):
        """Makes the disk hold `first` more bytes but not `second` more as
        well: returns the environment for the command to run with."""
        env = dict(os.environ)
        if self.mode == "hook":
            env["TS_TEST_DISK_FREE_BYTES"] = str(first + second // 2)
            return env
        filler = os.path.join(self.root, ".filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for chunk in (1 << 20, 1 << 16, self.PAGE, 1):
            block = b"\0" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
        size = os.fstat(fd).st_size
        pages = (first + self.PAGE - 1) // self.PAGE
        os.ftruncate(fd, max(0, (size // self.PAGE - pages) * self.PAGE))
        os.close(fd)
        st = os.statvfs(self.root)
        free = st.f_bavail * st.f_frsize
        assert first <= free < first + max(second, 1) + self.PAGE, (first, second, free)
        return env

    def empty(self):
        """Frees the disk again (the filler goes)."""
        try:
            os.unlink(os.path.join(self.root, ".filler"))
        except FileNotFoundError:
            pass


def full_disk(body):
    """Runs body(Disk) on a tmpfs when one can be mounted here, else with the hook."""
    if INSIDE:
        body(Disk(INSIDE, "tmpfs"))
        return
    mnt = mktmp()
    try:
        probe = run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"', mnt], timeout=30) \
            if shutil.which("unshare") else (1, b"", b"no unshare")
        if os.environ.get("TS_TEST_NO_TMPFS"):  # to exercise the other path where a tmpfs can be mounted
            probe = (1, b"", b"TS_TEST_NO_TMPFS is set")
        if probe[0] == 0:
            # the whole check again, inside a mount namespace with the tmpfs
            rc, out, err = run(["unshare", "-rm", "sh", "-c",
                                'mount -t tmpfs -o size=16m tmpfs "$0" && exec "$@"', mnt,
                                sys.executable, os.path.abspath(__file__), ITEM, CLI, APP, mnt], timeout=600)
            sys.stdout.write(text(out))
            sys.stderr.write(text(err))
            print("(ran on a 16 MB tmpfs)")
            sys.exit(rc if isinstance(rc, int) else 1)
        print(f"note: no tmpfs can be mounted here ({text(probe[2]).strip()}); injected write failures instead")
        body(Disk(mnt, "hook"))
    finally:
        shutil.rmtree(mnt, ignore_errors=True)


def no_temporaries(d, what):
    left = [f for f in os.listdir(d) if ".tmp-" in f]
    check(not left, f"{what}: no temporary file left behind ({left})")


# ---- the items -------------------------------------------------------------------

def t_caffe_set():
    """1: a Caffe export on a full disk keeps the old export whole."""
    def body(disk):
        tmp = mktmp()
        a = make_model(os.path.join(tmp, "a.safetensors"), seed=1)
        # other weights and other metadata: the prototxt and the caffemodel differ
        b = make_model(os.path.join(tmp, "b.safetensors"), seed=2, trait="gender", classes=["female", "male"])
        # the sizes of the new files, from a run on a disk with room
        dry = os.path.join(tmp, "dry")
        os.mkdir(dry)
        rc, _, err = cli("convert", b, os.path.join(dry, "net.caffemodel"))
        check(rc == 0, "convert to a .caffemodel on a disk with room: " + text(err))
        sizes = {f: os.path.getsize(os.path.join(dry, f)) for f in os.listdir(dry)}
        out = os.path.join(disk.root, "net.caffemodel")
        rc, _, err = cli("convert", a, out)
        check(rc == 0, "the first export")
        old = files_of(disk.root)
        check(all(old[f] != open(os.path.join(dry, f), "rb").read() for f in ("net.prototxt", "net.caffemodel")),
              "the new export has another prototxt and caffemodel (the mean is the same)")
        check(set(old) == {"net.caffemodel", "net.prototxt", "net.binaryproto"}, f"three files ({sorted(old)})")
        # room for the new prototxt and half the new caffemodel
        env = disk.leave(sizes["net.prototxt"], sizes["net.caffemodel"])
        rc, _, err = cli("convert", b, out, env=env)
        check(rc == 1, f"a full disk fails the export (exit {rc})")
        check("No space left on device" in text(err), "the message gives the reason: " + text(err).strip())
        disk.empty()
        now = files_of(disk.root)
        for f in old:
            check(now.get(f) == old[f], f"{f} is byte-identical to the old export")
        no_temporaries(disk.root, "caffe export")
        # and with room again, the new set replaces the old one whole
        rc, _, _ = cli("convert", b, out)
        new = files_of(disk.root)
        check(rc == 0 and all(new[f] == open(os.path.join(dry, f), "rb").read() for f in sizes),
              "with room, the new export replaces all three files")
        shutil.rmtree(tmp)
    full_disk(body)


def t_figure_set():
    """2: a figure whose sidecar cannot be written keeps the old figure and sidecar."""
    img = faces(1)[0]

    def body(disk):
        tmp = mktmp()
        a = make_model(os.path.join(tmp, "a.safetensors"), seed=1)
        b = make_model(os.path.join(tmp, "b.safetensors"), seed=2)
        dry = os.path.join(tmp, "dry.png")
        rc, _, err = cli("figure", "--model", b, img, "--panels", "face,lrp-a", "--dpi", "60", "--out", dry)
        check(rc == 0, "figure on a disk with room: " + text(err))
        png_size, side_size = os.path.getsize(dry), os.path.getsize(dry + ".json")
        fig = os.path.join(disk.root, "fig.png")
        rc, _, err = cli("figure", "--model", a, img, "--panels", "face,lrp-a", "--dpi", "60", "--out", fig)
        check(rc == 0, "the first figure: " + text(err))
        old = files_of(disk.root)
        env = disk.leave(png_size, side_size)  # the new PNG fits, its sidecar does not
        rc, _, err = cli("figure", "--model", b, img, "--panels", "face,lrp-a", "--dpi", "60", "--out", fig, env=env)
        check(rc == 1, f"a full disk fails the figure (exit {rc})")
        check("No space left on device" in text(err), "the message gives the reason: " + text(err).strip())
        disk.empty()
        now = files_of(disk.root)
        check(now.get("fig.png") == old["fig.png"], "fig.png is the old figure, byte for byte")
        check(now.get("fig.png.json") == old["fig.png.json"], "fig.png.json is the old sidecar, byte for byte")
        no_temporaries(disk.root, "figure")
        shutil.rmtree(tmp)
    full_disk(body)


def t_nonfinite_flags():
    """4: nan and inf are refused at the door, and nothing is written."""
    tmp = mktmp()
    m = make_model(os.path.join(tmp, "m.safetensors"))
    caffe = os.path.join(tmp, "m.caffemodel")
    rc, _, err = cli("convert", m, caffe)
    check(rc == 0, "export to Caffe: " + text(err))
    out = os.path.join(tmp, "out.safetensors")
    for flag, value, src in (("--mean", "nan,1,2", caffe), ("--mean", "1,inf,2", caffe), ("--mean", "-inf", caffe),
                             ("--scale", "inf", caffe), ("--scale", "nan", caffe),
                             ("--input-mean", "nan,0.5,0.5", m), ("--input-std", "1,inf,1", m)):
        rc, _, err = cli("convert", src, out, flag, value)
        check(rc == 2 and "finite" in text(err), f"convert {flag} {value} is a usage error naming 'finite' (exit {rc}: "
              f"{text(err).strip()})")
        check(not os.path.exists(out), f"convert {flag} {value} writes nothing")
    # other commands' float flags go through the same parser
    rc, _, err = cli("explain", "--model", m, faces(1)[0], "--scale", "nan", "--json")
    check(rc == 2, "explain --scale nan is a usage error")
    rc, _, err = cli("train", "--data", "csv:/nonexistent.csv", "--trait", "t", "--variant", "baseline",
                     "--out", out, "--lr", "inf")
    check(rc == 2, "train --lr inf is a usage error")
    shutil.rmtree(tmp)


def t_caffe_own_mean():
    """5: our own Caffe export without its .binaryproto is refused, saying what to give."""
    tmp = mktmp()
    m = make_model(os.path.join(tmp, "m.safetensors"))
    caffe = os.path.join(tmp, "net.caffemodel")
    check(cli("convert", m, caffe)[0] == 0, "export to Caffe")
    back = os.path.join(tmp, "back.safetensors")
    rc, _, _ = cli("convert", caffe, back)
    check(rc == 0, "with its .binaryproto it imports")
    info = json.loads(cli("info", "--compact", m)[1])
    os.unlink(os.path.join(tmp, "net.binaryproto"))
    os.unlink(back)
    for cmd in (["convert", caffe, back], ["info", caffe]):
        rc, _, err = cli(*cmd)
        e = text(err)
        check(rc == 1 and "binaryproto" in e and "--mean" in e,
              f"{cmd[0]} without the .binaryproto refuses, naming it and --mean (exit {rc}: {e.strip()})")
        check(not os.path.exists(back), f"{cmd[0]}: nothing written")
    # the values it suggests give the model's own normalisation back
    suggested = text(cli("info", caffe)[2]).split("--mean ")[-1].split(")")[0]
    rc, _, err = cli("convert", caffe, back, "--mean", suggested)
    check(rc == 0, f"convert --mean {suggested} (the suggested values): {text(err).strip()}")
    if rc == 0:
        got = json.loads(cli("info", "--compact", back)[1])
        check(all(abs(x - y) < 1e-6 for x, y in zip(got["input_mean"], info["input_mean"])),
              f"the imported mean {got['input_mean']} is the model's {info['input_mean']}")
    shutil.rmtree(tmp)


def t_no_input_overwrite():
    """8: no command overwrites one of its inputs."""
    tmp = mktmp()
    m = make_model(os.path.join(tmp, "m.safetensors"))
    face = os.path.join(tmp, "face.png")
    rc, _, err = cli("amap", "--landmarks", os.path.join(SRC, "tests", "fuzz", "seeds", "landmarks-68.json"),
                     "--size", "64x64", "--out", face)
    check(rc == 0, "a picture to play the photo: " + text(err))
    lm = os.path.join(SRC, "tests", "fuzz", "seeds", "landmarks-68.json")
    before = {p: open(p, "rb").read() for p in (m, face)}
    alias = os.path.join(tmp, "alias.png")
    os.link(face, alias)
    cases = [
        ["explain", "--model", m, face, "--out", face],
        ["explain", "--model", m, face, "--out", os.path.join(tmp, ".", "face.png")],
        ["explain", "--model", m, face, "--out", alias],
        ["explain", "--model", m, face, "--relevance", m],
        ["activations", "--model", m, face, "--out", face],
        ["activations", "--model", m, "--filters", m],
        ["figure", "--model", m, face, "--out", face],
        ["amap", "--landmarks", lm, "--image", face, "--out", face],
        ["convert", m, m],
    ]
    for c in cases:
        rc, _, err = cli(*c)
        check(rc == 2 and "input" in text(err), f"{' '.join(os.path.basename(x) for x in c)}: refused (exit {rc}: "
              f"{text(err).strip()[:160]})")
    for p, b in before.items():
        check(open(p, "rb").read() == b, f"{os.path.basename(p)} is unchanged")
    shutil.rmtree(tmp)


def patch_safetensors(src, dst, tensor, index, value):
    """Writes `value` into tensor[index] and a matching content hash, as a
    hostile or broken tool would."""
    raw = open(src, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = bytearray(raw[8 + n:])
    begin = header[tensor]["data_offsets"][0] + 4 * index
    data[begin:begin + 4] = struct.pack("<f", value)
    header["__metadata__"]["content_hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))


def t_nan_weights():
    """9: a model with a non-finite weight (hash recomputed) is refused by every loader."""
    tmp = mktmp()
    m = make_model(os.path.join(tmp, "m.safetensors"))
    face = faces(1)[0]
    for value, name in ((float("nan"), "nan"), (float("inf"), "inf")):
        bad = os.path.join(tmp, f"{name}.safetensors")
        patch_safetensors(m, bad, "fc4.weight", 7, value)
        for cmd in (["info", bad], ["predict", "--model", bad, face]):
            rc, out, err = cli(*cmd)
            e = text(err)
            check(rc == 1 and "fc4.weight" in e and "non-finite" in e and not out,
                  f"{cmd[0]} of a model with {name} refuses it, naming the tensor (exit {rc}: {e.strip()[:200]})")
    # the importers check too: an ONNX file with a NaN initializer
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        onnx = None
    if onnx:
        ox = os.path.join(tmp, "m.onnx")
        check(cli("convert", m, ox)[0] == 0, "export to ONNX")
        g = onnx.load(ox)
        init = next(t for t in g.graph.initializer if numpy_helper.to_array(t).size > 8)
        a = numpy_helper.to_array(init).copy()
        a.flat[3] = float("nan")
        init.CopyFrom(numpy_helper.from_array(a, init.name))
        badx = os.path.join(tmp, "nan.onnx")
        onnx.save(g, badx)
        rc, _, err = cli("convert", badx, os.path.join(tmp, "x.safetensors"))
        check(rc == 1 and "non-finite" in text(err), f"an ONNX file with a NaN weight is refused ({text(err).strip()[:200]})")
    shutil.rmtree(tmp)


def hostile_csv(tmp, good, n_missing, n_broken):
    """csv:FILE with good face rows and some missing and unreadable images
    (gender labels, classes female/male)."""
    rows, bad = [], []
    for i, p in enumerate(good):
        rows.append((p, "female" if i % 2 else "male"))
    for i in range(n_missing):
        p = os.path.join(tmp, f"missing-{i}.jpg")
        rows.append((p, "male"))
        bad.append(p)
    for i in range(n_broken):
        p = os.path.join(tmp, f"broken-{i}.jpg")
        open(p, "wb").write(b"\xff\xd8\xff not a jpeg")
        rows.append((p, "female"))
        bad.append(p)
    # the bad rows interleaved, so that "the first" means row order
    rows = rows[::2] + rows[1::2]
    path = os.path.join(tmp, "faces.csv")
    with open(path, "w") as f:
        f.write("path,gender\n")
        for p, g in rows:
            f.write(f"{p},{g}\n")
    order = [p for p, _ in rows if p in bad]
    return "csv:" + path, order


def t_skipped_rows():
    """10: eval, compare and flip name the first skipped rows, then count them, and the JSON has the count."""
    tmp = mktmp()
    good = faces(8)
    spec, bad = hostile_csv(tmp, good, 4, 3)
    a = make_model(os.path.join(tmp, "a.safetensors"), seed=1, trait="gender", classes=["female", "male"])
    b = make_model(os.path.join(tmp, "b.safetensors"), seed=2, trait="gender", classes=["female", "male"])

    def named(err, what):
        e = text(err)
        lines = [l for l in e.splitlines() if "skipped" in l]
        check(all(any(p in l for l in lines) for p in bad[:5]), f"{what}: the first five skipped images are named")
        check(not any(p in e for p in bad[5:]), f"{what}: the others are only counted")
        check("7 of 15 skipped" in e, f"{what}: the count of all skipped rows ('7 of 15 skipped' in {e.strip()[-120:]!r})")

    rc, out, err = cli("eval", "--model", a, "--data", spec, "--split", "all", "--json")
    check(rc == 0, "eval: " + text(err)[-300:])
    named(err, "eval")
    if rc == 0:
        j = json.loads(out)
        check(j["skipped"] == 7 and j["images"] == 8, f"eval JSON: images 8, skipped 7 ({j['images']}, {j['skipped']})")
    rc, out, err = cli("compare", "--baseline", a, "--lacnn", b, "--data", spec, "--split", "all", "--json")
    check(rc == 0, "compare: " + text(err)[-300:])
    named(err, "compare")
    if rc == 0:
        j = json.loads(out)
        check(j.get("skipped") == 7 and j["images"] == 8, f"compare JSON: images 8, skipped 7 ({j.get('skipped')})")
    rc, out, err = cli("flip", "--model", a, "--data", spec, "--limit", "15", "--steps", "2", "--json")
    check(rc == 1, f"flip with skipped images exits 1 ({rc})")
    named(err, "flip")
    try:
        j = json.loads(out)
        check(j.get("skipped") == 7 and len(j["images"]) == 8, f"flip JSON: 8 images, skipped 7 ({j.get('skipped')})")
    except ValueError:
        check(False, "flip printed its JSON")
    shutil.rmtree(tmp)


def t_empty_labels():
    """11: an empty UTKFace labels.csv (or one with no usable row) is an error."""
    tmp = mktmp()
    os.mkdir(os.path.join(tmp, "images"))
    shutil.copy(faces(1)[0], os.path.join(tmp, "images", "20_1_0_20170109150557335.jpg.chip.jpg"))
    for content, what in ((b"", "empty"), (b"file,age,gender,race\n", "header only"),
                          (b"x.jpg,abc,0,0\n", "no usable row")):
        open(os.path.join(tmp, "labels.csv"), "wb").write(content)
        rc, out, err = cli("data", "--data", "utkface:" + tmp)
        e = text(err)
        check(rc == 1 and ("labels.csv" in e or "no usable rows" in e),
              f"labels.csv {what}: an error (exit {rc}: {e.strip()})")
    # the same for the other readers: a CSV with a header only
    csv = os.path.join(tmp, "h.csv")
    open(csv, "w").write("path,gender\n")
    rc, _, err = cli("data", "--data", "csv:" + csv)
    check(rc == 1 and "no usable rows" in text(err), f"a header-only CSV is an error ({text(err).strip()})")
    shutil.rmtree(tmp)


def t_app_quit():
    """13: --quit quits on a source with no face, and says why on stderr."""
    need_app()
    tmp = mktmp()
    rnd = os.path.join(tmp, "random.csv")
    open(rnd, "wb").write(os.urandom(4096))
    cel = os.path.join(tmp, "celeba")
    os.mkdir(cel)
    open(os.path.join(cel, "attributes.txt"), "w").close()
    for spec, expect in (("celeba:/nonexistent", "/nonexistent"), ("csv:" + rnd, "random.csv"),
                         ("celeba:" + cel, "attributes.txt")):
        shot = os.path.join(tmp, "shot.png")
        rc, out, err = app(["--screenshot", shot, "--quit", spec], timeout=120)
        check(rc != "timeout", f"{spec}: the app exits")
        check(rc not in (0, "timeout"), f"{spec}: with a failure status ({rc})")
        check(expect in text(err), f"{spec}: the error is on stderr ({text(err).strip()[-200:]!r})")
    shutil.rmtree(tmp)


def t_headless_specs():
    """14: --headless takes folders and dataset specs, as its usage line says."""
    need_app()
    tmp = mktmp()
    fs = faces(3)
    d = os.path.join(tmp, "folder")
    os.mkdir(d)
    for p in fs:
        shutil.copy(p, d)
    spec, _ = hostile_csv(tmp, fs, 0, 0)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for arg in (d, "folder:" + d, spec, "celeba:" + os.path.join(DATA, "celebahq")):
        out = os.path.join(tmp, "fig.pdf")
        rc, o, err = run([APP, "--headless", "--out", out, arg], env=env, timeout=300)
        check(rc == 0 and os.path.getsize(out) > 2000 if os.path.exists(out) else False,
              f"--headless {arg}: a figure ({rc}: {text(err).strip()[-200:]})")
        if os.path.exists(out):
            os.unlink(out)
    rc, o, err = run([APP, "--headless", "--out", os.path.join(tmp, "x.pdf"), "celeba:/nonexistent"], env=env)
    check(rc == 1 and "/nonexistent" in text(err), "--headless on a spec that cannot be read fails, naming it")
    shutil.rmtree(tmp)


def t_tiny_image_named():
    """15: a 1x1 or 4000x1 image: the message names the file (app and figure)."""
    need_app()
    tmp = mktmp()
    m = make_model(os.path.join(tmp, "m.safetensors"))
    import zlib

    def png(path, w, h):
        raw = b"".join(b"\0" + b"\x80" * (3 * w) for _ in range(h))
        chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
        open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    for w, h in ((1, 1), (4000, 1)):
        p = os.path.join(tmp, f"tiny-{w}x{h}.png")
        png(p, w, h)
        rc, out, err = app(["--model", m, "--screenshot", os.path.join(tmp, "s.png"), "--quit", p], timeout=120)
        e = text(err)
        check(rc != "timeout" and any(os.path.basename(p) in l for l in e.splitlines() if l.startswith("traitscope:")),
              f"app, {w}x{h}: the message names the file ({e.strip()[-300:]!r})")
        rc, out, err = cli("figure", "--model", m, p, "--out", os.path.join(tmp, "f.png"))
        named = [l for l in text(err).splitlines() if p in l]
        check(rc == 1 and len(named) == 1 and named[0].count(p) == 1,
              f"figure, {w}x{h}: the message names the file once ({text(err).strip()[-300:]!r})")
    shutil.rmtree(tmp)


def t_hostile_names():
    """16: names that are not UTF-8, or hold control characters."""
    tmp = mktmp().encode()
    m = make_model(os.path.join(tmp.decode(), "m.safetensors"))
    bad = os.path.join(tmp, b"bad\xff\xfe.jpg")
    shutil.copy(faces(1)[0], bad)
    ctl = os.path.join(tmp, b"ctl\x1b[31m\x07.jpg")
    open(ctl, "wb").write(b"not an image")
    # predict: strict JSON (Python's json refuses nothing valid, but takes no invalid UTF-8)
    rc, out, err = run([CLI.encode(), b"predict", b"--model", m.encode(), bad, ctl])
    lines = out.splitlines()
    try:
        j = json.loads(lines[0].decode("utf-8", "strict"))
        check("\ufffd" in j["image"], "predict: the name shows U+FFFD for the invalid bytes")
        check(bytes.fromhex(j["image_bytes"]) == bad, "predict: image_bytes gives the exact name back")
    except (ValueError, IndexError, KeyError) as e:
        check(False, f"predict prints valid JSON with image_bytes ({e}: {out[:200]!r})")
    check(b"\x1b" not in err and b"\x07" not in err and b"\\x1b" in err,
          f"predict: the control characters of a name are escaped on stderr ({err[-200:]!r})")
    # the figure sidecar
    fig = os.path.join(tmp, b"fig.png")
    rc, out, err = run([CLI.encode(), b"figure", b"--model", m.encode(), b"--panels", b"face,pred", bad, b"--out", fig])
    check(rc == 0, f"figure of a face with such a name ({err[-300:]!r})")
    try:
        side = json.loads(open(fig + b".json", "rb").read().decode("utf-8", "strict"))
        check(bytes.fromhex(side["images"][0]["path_bytes"]) == bad, "the sidecar keeps the exact name in path_bytes")
        json.loads(out.decode("utf-8", "strict"))
    except (ValueError, KeyError, OSError) as e:
        check(False, f"figure's sidecar and line are valid JSON ({e})")
    # the app: a CSV whose header and rows are not UTF-8; Pango and GTK warn
    # about every invalid string they are given
    if os.access(APP, os.X_OK) and shutil.which("xvfb-run"):
        csv = os.path.join(tmp, b"bin.csv")
        open(csv, "wb").write(b"path,g\xff\xfender\n" + bad + b",a\xff\n" + ctl + b",b\n")
        rc, out, err = app(["--model", m, "--screenshot", os.path.join(tmp, b"s.png").decode("utf-8", "surrogateescape"),
                            "--quit", "csv:" + csv.decode("utf-8", "surrogateescape")], timeout=120)
        warned = [l for l in err.splitlines() if b"UTF-8" in l or b"Failed to set text" in l]
        ours = [l for l in err.splitlines() if l.startswith(b"traitscope")]
        check(rc == 0 and not warned, f"the app shows such a CSV with no invalid-UTF-8 warning (exit {rc}: "
              f"{(warned or ours)[:4]!r})")
        check(b"\x1b" not in err, "the app escapes control characters of names on stderr")
    else:
        print("note: app part skipped (no app or no xvfb-run)")
    shutil.rmtree(tmp)


def t_model_formats():
    """17: every command that takes a model takes .safetensors, .onnx and .caffemodel."""
    tmp = mktmp()
    fs = faces(4)
    spec, _ = hostile_csv(tmp, fs, 0, 0)
    m = make_model(os.path.join(tmp, "m.safetensors"), trait="gender", classes=["female", "male"])
    ox, cf = os.path.join(tmp, "m.onnx"), os.path.join(tmp, "m.caffemodel")
    check(cli("convert", m, ox)[0] == 0 and cli("convert", m, cf)[0] == 0, "exports")
    ref = None
    for model in (m, ox, cf):
        k = os.path.splitext(model)[1]
        rc, out, err = cli("info", "--compact", model)
        check(rc == 0 and json.loads(out)["classes"] == ["female", "male"], f"info {k}: {text(err).strip()[:200]}")
        rc, out, err = cli("predict", "--model", model, fs[0])
        check(rc == 0, f"predict {k}: {text(err).strip()[:200]}")
        if rc == 0:
            p = json.loads(out)["probabilities"]
            ref = ref or p
            check(all(abs(p[c] - ref[c]) < 1e-4 for c in p), f"predict {k}: the same probabilities ({p} vs {ref})")
        rc, out, err = cli("explain", "--model", model, fs[0], "--json")
        check(rc == 0, f"explain {k}: {text(err).strip()[:200]}")
        rc, out, err = cli("activations", "--model", model, fs[0], "--out", os.path.join(tmp, "act.png"))
        check(rc == 0, f"activations {k}: {text(err).strip()[:200]}")
        rc, out, err = cli("eval", "--model", model, "--data", spec, "--split", "all", "--json")
        check(rc == 0, f"eval {k}: {text(err).strip()[:200]}")
        rc, out, err = cli("flip", "--model", model, "--data", spec, "--limit", "1", "--steps", "2", "--json")
        check(rc == 0, f"flip {k}: {text(err).strip()[:200]}")
        rc, out, err = cli("compare", "--baseline", m, "--lacnn", model, "--data", spec, "--split", "all", "--json")
        check(rc == 0, f"compare with {k}: {text(err).strip()[:200]}")
    shutil.rmtree(tmp)


def t_messages():
    """18: clearer messages."""
    tmp = mktmp()
    m = make_model(os.path.join(tmp, "m.safetensors"))
    import zlib
    # a PNG over the size limit: "exceeds the limit", as for JPEG
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    big = os.path.join(tmp, "big.png")
    open(big, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16385, 1, 8, 2, 0, 0, 0))
                          + chunk(b"IEND", b""))
    rc, _, err = cli("predict", "--model", m, big)
    check(rc == 1 and "exceeds the limit" in text(err), f"a 16385x1 PNG: 'exceeds the limit' ({text(err).strip()})")
    # the path once in flip's and figure's messages
    missing = os.path.join(tmp, "missing-face.jpg")
    spec_path = os.path.join(tmp, "one.csv")
    open(spec_path, "w").write(f"path,gender\n{missing},a\n{faces(1)[0]},b\n")
    rc, _, err = cli("flip", "--model", m, "--data", "csv:" + spec_path, "--steps", "2")
    line = [l for l in text(err).splitlines() if "missing-face" in l]
    check(line and line[0].count(missing) == 1, f"flip names the path once ({line})")
    rc, _, err = cli("figure", "--model", m, missing, faces(1)[0], "--out", os.path.join(tmp, "f.png"))
    line = [l for l in text(err).splitlines() if "missing-face" in l]
    check(line and line[0].count(missing) == 1, f"figure names the path once ({line})")
    # amap --help says how many pixels it takes in all
    rc, out, _ = cli("amap", "--help")
    check(str(1 << 27) in text(out), "amap --help gives the pixel limit (134217728)")
    rc, _, err = cli("amap", "--landmarks", os.path.join(SRC, "tests", "fuzz", "seeds", "landmarks-68.json"),
                     "--size", "16384x16384", "--out", os.path.join(tmp, "a.pgm"))
    check(rc == 2 and str(1 << 27) in text(err), "amap 16384x16384 is refused with the same limit")
    shutil.rmtree(tmp)


def t_full_disk_reason():
    """18: a full disk is reported with its reason, not a bare "write failed"."""
    def body(disk):
        tmp = mktmp()
        m = make_model(os.path.join(tmp, "m.safetensors"))
        lm = os.path.join(SRC, "tests", "fuzz", "seeds", "landmarks-68.json")
        env = disk.leave(0, 64 * 64 + 64)
        rc, _, err = cli("amap", "--landmarks", lm, "--size", "64x64", "--out", os.path.join(disk.root, "a.pgm"), env=env)
        check(rc == 1 and "No space left on device" in text(err), f"amap on a full disk: the reason ({text(err).strip()})")
        rc, _, err = cli("explain", "--model", m, faces(1)[0], "--relevance", os.path.join(disk.root, "r.npy"), env=env)
        check(rc == 1 and "No space left on device" in text(err), f"explain --relevance on a full disk: the reason "
              f"({text(err).strip()})")
        rc, _, err = cli("figure", "--model", m, faces(1)[0], "--panels", "face", "--dpi", "30", "--out",
                         os.path.join(disk.root, "f.svg"), env=env)
        check(rc == 1 and "No space left on device" in text(err), f"figure on a full disk: the reason ({text(err).strip()})")
        disk.empty()
        shutil.rmtree(tmp)
    full_disk(body)


def train_args(spec, out, epochs, cache):
    return ["train", "--data", spec, "--trait", "gender", "--variant", "baseline", "--arch", ARCH, "--size", "32",
            "--epochs", str(epochs), "--batch", "8", "--augment", "none", "--device", "cpu", "--compute-threads", "1",
            "--cache", cache, "--out", out]


def t_train_lock():
    """6: a second train on the same --out fails at once, naming the first."""
    import signal
    import time
    tmp = mktmp()
    spec, _ = hostile_csv(tmp, faces(40), 0, 0)
    out = os.path.join(tmp, "m.safetensors")
    first = subprocess.Popen([CLI, *train_args(spec, out, 1000, os.path.join(tmp, "cache"))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the first run is under way once it prepares faces (or holds the lock)
    t0 = time.time()
    while time.time() - t0 < 120 and first.poll() is None and not os.path.exists(out + ".lock") \
            and not os.path.exists(out + ".split.json"):
        time.sleep(0.2)
    check(first.poll() is None, "the first run is running")
    t1 = time.time()
    rc, o, err = cli(*train_args(spec, out, 1, os.path.join(tmp, "cache2")), timeout=60)
    took = time.time() - t1
    e = text(err)
    check(rc == 1, f"the second run fails (exit {rc})")
    check(took < 30, f"at once ({took:.1f} s)")
    check(f"pid {first.pid}" in e and out in e, f"naming the first run and the output ({e.strip()[-300:]!r})")
    first.send_signal(signal.SIGINT)
    try:
        first.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        first.kill()
        first.communicate()
    check(not os.path.exists(out + ".lock"), "the lock goes when the first run ends")
    # and the next run on that output may go
    rc, o, err = cli(*train_args(spec, out, 1, os.path.join(tmp, "cache")), "--resume", timeout=300)
    check(rc == 0, f"a later run on the same output works ({text(err).strip()[-200:]})")
    shutil.rmtree(tmp)


def t_train_stale():
    """7: temporaries a killed checkpoint write left are removed at the next start."""
    tmp = mktmp()
    spec, _ = hostile_csv(tmp, faces(40), 0, 0)
    out = os.path.join(tmp, "m.safetensors")
    stale = [out + ".state.tmp-Ab12Cd", out + ".tmp-x9Y8z7", out + ".split.json.tmp-000000"]
    keep = [out + ".tmp-notes.txt", os.path.join(tmp, "other.safetensors.tmp-Ab12Cd")]
    for p in stale + keep:
        open(p, "wb").write(b"\0" * 100000)
    rc, o, err = cli(*train_args(spec, out, 1, os.path.join(tmp, "cache")), timeout=300)
    check(rc == 0, f"train: {text(err).strip()[-300:]}")
    for p in stale:
        check(not os.path.exists(p), f"{os.path.basename(p)} was removed")
    for p in keep:
        check(os.path.exists(p), f"{os.path.basename(p)} was kept (not a temporary of this output)")
    check("removed 3 temporary file(s)" in text(err), "the run says so")
    shutil.rmtree(tmp)


def t_train_skipped():
    """10: train names the first skipped images, counts them, and records the count."""
    tmp = mktmp()
    spec, bad = hostile_csv(tmp, faces(40), 4, 3)
    out = os.path.join(tmp, "m.safetensors")
    rc, o, err = cli(*train_args(spec, out, 1, os.path.join(tmp, "cache")), timeout=300)
    e = text(err)
    check(rc == 0, f"train: {e.strip()[-300:]}")
    lines = [l for l in e.splitlines() if "skipped" in l]
    check(all(any(p in l for l in lines) for p in bad[:5]), "the first five skipped images are named")
    check(not any(p in e for p in bad[5:]), "the others are only counted")
    check("7 of 47 skipped" in e, f"the count ({lines[-1:]})")
    if rc == 0:
        j = json.loads(o)
        check(j.get("skipped_images") == 7, f"the JSON has skipped_images 7 ({j.get('skipped_images')})")
        info = json.loads(cli("info", "--compact", out)[1])
        check(info["training"].get("skipped_images") == 7, "the model's metadata records it")
    shutil.rmtree(tmp)


TESTS = {
    "caffe-set": t_caffe_set,
    "figure-set": t_figure_set,
    "nonfinite-flags": t_nonfinite_flags,
    "caffe-own-mean": t_caffe_own_mean,
    "no-input-overwrite": t_no_input_overwrite,
    "nan-weights": t_nan_weights,
    "skipped-rows": t_skipped_rows,
    "empty-labels": t_empty_labels,
    "app-quit": t_app_quit,
    "headless-specs": t_headless_specs,
    "tiny-image-named": t_tiny_image_named,
    "hostile-names": t_hostile_names,
    "model-formats": t_model_formats,
    "messages": t_messages,
    "full-disk-reason": t_full_disk_reason,
    "train-lock": t_train_lock,
    "train-stale": t_train_stale,
    "train-skipped": t_train_skipped,
}

if ITEM not in TESTS:
    print(f"unknown item {ITEM}; one of {', '.join(TESTS)}", file=sys.stderr)
    sys.exit(2)
TESTS[ITEM]()
print(f"{ITEM}: {'all checks passed' if not failures else f'{failures} check(s) failed'}")
sys.exit(1 if failures else 0)
