"""The container images of the test cluster's real nodes, built offline without a Docker
engine (buildah and mmdebstrap; Docker Hub is out of reach), each written to a docker-archive
under bin/images/ that `ctr -n k8s.io images import` loads into a node's containerd:

- base: Debian bookworm (minbase) with python3 and a virtual environment at /opt/venv, first
  on PATH; it stands in for python:3.11-slim. Only an input of the operator and trainer
  images: nodes never import it.
- pause: the sandbox process of every pod (images/pause.c, static), named `PAUSE_REF`.
- operator: operator/Dockerfile on the base (`OPERATOR_REF`).
- trainer: trainer_image/Dockerfile on the base with TORCH_VARIANT=cpu (`TRAINER_REF`).

Each image is keyed by a hash of its inputs (the mmdebstrap call; pause.c; a Dockerfile,
the files it copies, its build arguments and the base's key); an archive whose key matches
is reused, so a second run does nothing. Dependencies pip resolves at build time are no
input: `--rebuild` picks up new releases.

    PYTHONPATH=tests .venv/bin/python -m testenv.images [--rebuild]   # what `make images` runs
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from testenv.paths import BIN_DIR, REPO_ROOT

IMAGES_DIR = BIN_DIR / "images"
STORAGE_DIR = IMAGES_DIR / "storage"  # buildah's own image store (vfs), nothing in /var/lib/containers
LOG_DIR = IMAGES_DIR / "logs"
VERSION = (REPO_ROOT / "VERSION").read_text().strip()

# A pod spec's `image: llmtrain/trainer:0.1.0` resolves to these fully qualified names.
OPERATOR_REF = f"docker.io/llmtrain/operator:{VERSION}"
TRAINER_REF = f"docker.io/llmtrain/trainer:{VERSION}"
# The containerd config's sandbox_image. Under localhost/ so that a node missing it fails
# to pull at once instead of fetching some other pause image from a registry.
PAUSE_REF = "localhost/testenv/pause:1"
BASE_REPOSITORY = "localhost/testenv/base"

PAUSE_SOURCE = Path(__file__).resolve().parent / "images" / "pause.c"
OPERATOR_DOCKERFILE = REPO_ROOT / "operator" / "Dockerfile"
TRAINER_DOCKERFILE = REPO_ROOT / "trainer_image" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# Part of every key: bump it when the way an image is built changes.
KEY_FORMAT = "1"
VENV = "/opt/venv"
# Debian's python3 is externally managed (PEP 668), so `python -m pip` of the Dockerfiles
# must be the venv's. passwd brings useradd (the trainer Dockerfile adds its user).
MMDEBSTRAP_ARGS = (
    "--variant=minbase",
    "--include=python3,python3-venv,ca-certificates,passwd",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    f'--customize-hook=chroot "$1" python3 -m venv {VENV}',
    "bookworm",
)
BASE_ENV = {
    "PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# The image's pip trusts the system CA store, as Debian's own pip does (the venv's pip
# would use its bundled certifi). Builds mount this machine's bundle over that file.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_PIP_CONF = f"[global]\ncert = {CA_BUNDLE}\n"
# pip settings of this machine that a build needs to reach the same index; the others
# (find-links, cert) name paths of this machine.
FORWARDED_PIP_SETTINGS = ("index-url", "extra-index-url", "trusted-host", "timeout", "default-timeout", "retries")
PAUSE_CFLAGS = ("-static", "-O2", "-s", "-Wall", "-Wextra")
BUILDAH_SYSTEM_DIRS = (Path("/var/lib/containers"), Path("/run/containers"))


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says why and where the log is."""


@dataclass(frozen=True)
class ImageArchive:
    """A built image: `ref` is its fully qualified name, `archive` the docker-archive that
    holds it (`ctr -n k8s.io images import ARCHIVE`), `key` the hash of its inputs (a new key
    means a rebuilt image)."""

    ref: str
    archive: Path
    key: str


@dataclass(frozen=True)
class _Image:
    """How to build one image: `build(buildah, log)` makes `ref` in buildah's store."""

    name: str
    ref: str
    key: str
    what: str
    cold: str
    build: Callable[[_Buildah, Path], None]


class _Buildah:
    """buildah on the store under bin/images, with a run root of this session only."""

    def __init__(self, runroot: Path) -> None:
        self.argv = ["buildah", "--root", str(STORAGE_DIR), "--runroot", str(runroot), "--storage-driver", "vfs"]

    def __call__(self, *args: str, log: Path | None = None) -> str:
        return _run([*self.argv, *args], log=log)

    def has_image(self, ref: str) -> bool:
        done = subprocess.run([*self.argv, "inspect", "--type", "image", ref], capture_output=True, check=False)
        return done.returncode == 0


def build_images(*, rebuild: bool = False) -> dict[str, ImageArchive]:
    """Build (or reuse) the base, pause, operator and trainer images, in that order; return
    the archives of the three that nodes import, under "pause", "operator" and "trainer"."""
    _check_prerequisites()
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(exist_ok=True)
    with _exclusive(IMAGES_DIR / ".lock"), _session() as (buildah, scratch):
        # What an interrupted run left: with vfs a working container is a whole root file system.
        buildah("rm", "--all")
        pip_conf = scratch / "pip.conf"
        pip_conf.write_text(_build_pip_conf())
        base = _ensure(_base_image(), buildah, rebuild)
        if not buildah.has_image(base.ref):  # the store was removed, the archive was not
            _load(buildah, base)
        pause = _ensure(_pause_image(), buildah, rebuild)
        operator = _ensure(
            _dockerfile_image(
                "operator", OPERATOR_REF, OPERATOR_DOCKERFILE, {"PYTHON_IMAGE": base.ref}, base, pip_conf
            ),
            buildah,
            rebuild,
        )
        trainer = _ensure(
            _dockerfile_image(
                "trainer",
                TRAINER_REF,
                TRAINER_DOCKERFILE,
                {"BASE_IMAGE": base.ref, "TORCH_VARIANT": "cpu"},
                base,
                pip_conf,
            ),
            buildah,
            rebuild,
        )
        _prune(buildah, keep=base.ref)
    return {"pause": pause, "operator": operator, "trainer": trainer}


def _check_prerequisites() -> None:
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        raise ImageBuildError(f"{' and '.join(missing)} not found: run `make node-packages` (as root) first")
    if shutil.which("gcc") is None:
        raise ImageBuildError("gcc not found (it compiles the pause image): apt-get install gcc libc6-dev")
    if os.geteuid() != 0:
        raise ImageBuildError("building the images needs root (mmdebstrap and buildah's chroot builds)")


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    # Two concurrent runs would build into the same store and archives.
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _session() -> Iterator[tuple[_Buildah, Path]]:
    """A buildah bound to bin/images/storage, and a scratch directory; its run root (in the
    scratch directory) and the scratch directory are removed afterwards."""
    # Whatever --root and --runroot say, buildah 1.28 writes containers/image's blob info
    # cache to /var/lib/containers/cache (commit, push, pull) and makes /run/containers/networks
    # (any command): removed again when this run made them.
    made_here = [path for path in BUILDAH_SYSTEM_DIRS if not path.exists()]
    scratch = Path(tempfile.mkdtemp(prefix="testenv-images-"))
    try:
        yield _Buildah(scratch / "run"), scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for path in made_here:
            shutil.rmtree(path, ignore_errors=True)


def _ensure(image: _Image, buildah: _Buildah, rebuild: bool) -> ImageArchive:
    """The archive of `image`, built and written unless one with its key is there."""
    archive = IMAGES_DIR / f"{image.name}.tar"
    stamp = IMAGES_DIR / f"{image.name}.json"
    built = ImageArchive(image.ref, archive, image.key)
    if not rebuild and _stamp(stamp) == _stamp_of(built):
        print(f">> the {image.name} image is up to date: {image.ref} in {_show(archive)}", flush=True)
        return built
    print(f">> building the {image.name} image: {image.what} (cold: {image.cold})", flush=True)
    stamp.unlink(missing_ok=True)
    log = LOG_DIR / f"{image.name}.log"
    log.write_text("")
    started = time.monotonic()
    image.build(buildah, log)
    built_in = time.monotonic() - started
    _push(buildah, image.ref, archive, log)
    pushed_in = time.monotonic() - started - built_in
    if image.name != "base":  # the archive is the product; with vfs a stored image is a full copy
        buildah("rmi", image.ref)
    stamp.write_text(json.dumps(_stamp_of(built), indent=2) + "\n")
    print(f"   built in {built_in:.0f}s, archived in {pushed_in:.0f}s: {_show(archive)}", flush=True)
    return built


def _stamp_of(image: ImageArchive) -> dict[str, object]:
    size = image.archive.stat().st_size if image.archive.exists() else None
    return {"ref": image.ref, "key": image.key, "archive_bytes": size}


def _stamp(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _push(buildah: _Buildah, ref: str, archive: Path, log: Path) -> None:
    # Written next to it and renamed, so an archive is always whole.
    partial = archive.with_name(archive.name + ".partial")
    partial.unlink(missing_ok=True)
    buildah("push", "--quiet", ref, f"docker-archive:{partial}:{ref}", log=log)
    os.replace(partial, archive)


def _load(buildah: _Buildah, image: ImageArchive) -> None:
    image_id = buildah("pull", "--quiet", f"docker-archive:{image.archive}").strip().splitlines()[-1]
    buildah("tag", image_id, image.ref)


def _prune(buildah: _Buildah, keep: str) -> None:
    """Remove every stored image but `keep` (older bases, what a failed run left)."""
    stored = json.loads(buildah("images", "--json") or "[]")
    for entry in stored:
        if keep not in (entry.get("names") or []):
            buildah("rmi", "--force", entry["id"])


# The base image.


def _base_image() -> _Image:
    ref_key = _hash({"format": KEY_FORMAT, "mmdebstrap": MMDEBSTRAP_ARGS, "env": BASE_ENV, "pip.conf": BASE_PIP_CONF})
    return _Image(
        name="base",
        ref=f"{BASE_REPOSITORY}:{ref_key[:16]}",
        key=ref_key,
        what="Debian bookworm with python3 and a venv, by mmdebstrap",
        cold="~1.5 min",
        build=lambda buildah, log: _build_base(buildah, f"{BASE_REPOSITORY}:{ref_key[:16]}", log),
    )


def _build_base(buildah: _Buildah, ref: str, log: Path) -> None:
    container = buildah("from", "--name", "testenv-base", "scratch").strip()
    try:
        root = Path(buildah("mount", container).strip())
        # mmdebstrap fills the (empty) directory of the container directly: no tarball.
        _run(["mmdebstrap", *MMDEBSTRAP_ARGS, str(root)], log=log)
        (root / "etc" / "pip.conf").write_text(BASE_PIP_CONF)
        buildah("umount", container)
        env = [arg for name, value in BASE_ENV.items() for arg in ("--env", f"{name}={value}")]
        buildah("config", *env, "--cmd", "python3", container)
        buildah("commit", "--quiet", container, ref, log=log)
    finally:
        buildah("rm", container)


# The pause image.


def _pause_image() -> _Image:
    source = PAUSE_SOURCE.read_bytes()
    return _Image(
        name="pause",
        ref=PAUSE_REF,
        key=_hash({"format": KEY_FORMAT, "cflags": PAUSE_CFLAGS, "pause.c": hashlib.sha256(source).hexdigest()}),
        what=f"{PAUSE_SOURCE.relative_to(REPO_ROOT)}, static",
        cold="a few seconds",
        build=lambda buildah, log: _build_pause(buildah, PAUSE_REF, log),
    )


def _build_pause(buildah: _Buildah, ref: str, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="testenv-pause-") as tmp:
        binary = Path(tmp) / "pause"
        _run(["gcc", *PAUSE_CFLAGS, "-o", str(binary), str(PAUSE_SOURCE)], log=log)
        container = buildah("from", "--name", "testenv-pause", "scratch").strip()
        try:
            buildah("copy", "--chmod=0755", container, str(binary), "/pause")
            # The user of registry.k8s.io/pause: nobody needs root to call pause().
            buildah("config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container)
            buildah("commit", "--quiet", container, ref, log=log)
        finally:
            buildah("rm", container)


# The images of the repository's Dockerfiles.


def _dockerfile_image(
    name: str, ref: str, dockerfile: Path, build_args: Mapping[str, str], base: ImageArchive, pip_conf: Path
) -> _Image:
    inputs = {
        "format": KEY_FORMAT,
        "dockerfile": hashlib.sha256(dockerfile.read_bytes()).hexdigest(),
        "context": _context_hash(dockerfile),
        "build_args": dict(sorted(build_args.items())),
        "base": base.key,
        "pip.conf": pip_conf.read_text(),
    }
    args = [arg for key, value in sorted(build_args.items()) for arg in ("--build-arg", f"{key}={value}")]
    return _Image(
        name=name,
        ref=ref,
        key=_hash(inputs),
        what=f"{dockerfile.relative_to(REPO_ROOT)} {' '.join(args[1::2])}",
        cold={"operator": "~1 min", "trainer": "~5 min, pip downloads ~4 GB"}.get(name, "minutes"),
        build=lambda buildah, log: _bud(buildah, ref, dockerfile, args, pip_conf, log),
    )


def _bud(buildah: _Buildah, ref: str, dockerfile: Path, build_args: Sequence[str], pip_conf: Path, log: Path) -> None:
    buildah(
        "bud",
        "--isolation=chroot",
        "--network=host",
        # One layer per build: the vfs driver stores every layer as a full copy of the tree.
        "--layers=false",
        "--pull=never",  # the base is in the store; there is no registry to ask
        "--force-rm",
        # Build-time only, nothing of them stays in the image: pip reaches the index through
        # TLS that only this machine's CA bundle trusts, and this machine's pip settings say
        # which index. Both targets exist in the base, so no empty mount point is left behind.
        f"--volume={_host_ca_bundle()}:{CA_BUNDLE}:ro",
        f"--volume={pip_conf}:/etc/pip.conf:ro",
        *build_args,
        f"--file={dockerfile}",
        f"--tag={ref}",
        str(REPO_ROOT),
        log=log,
    )


def _copy_sources(dockerfile: Path) -> list[str]:
    """The context paths the COPY and ADD instructions of `dockerfile` name."""
    text = dockerfile.read_text().replace("\\\n", " ")
    sources = []
    for line in text.splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and words[0].upper() in ("COPY", "ADD"):
            args = json.loads(words[1]) if words[1].lstrip().startswith("[") else shlex.split(words[1])
            sources += [arg for arg in args[:-1] if not arg.startswith("--")]
    return sources


def _context_hash(dockerfile: Path) -> str:
    """A hash of the files `dockerfile` copies (path, executable bit, content), leaving out
    what .dockerignore's `**/<name>` patterns keep out of the build context."""
    ignored = [line[3:] for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("**/")]
    digest = hashlib.sha256()
    for source in _copy_sources(dockerfile):
        for path in _files(REPO_ROOT / source, ignored):
            digest.update(f"{path.relative_to(REPO_ROOT)}\0{os.access(path, os.X_OK)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _files(path: Path, ignored: Sequence[str]) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for directory, subdirs, names in os.walk(path):
        subdirs[:] = sorted(d for d in subdirs if not any(fnmatch(d, pattern) for pattern in ignored))
        found += [Path(directory, n) for n in sorted(names) if not any(fnmatch(n, pattern) for pattern in ignored)]
    return found


def _build_pip_conf() -> str:
    """pip.conf of the builds: the mounted CA bundle, and this machine's index settings."""
    lines = ["[global]", f"cert = {CA_BUNDLE}"]
    for key, value in _host_pip_settings().items():
        if key in FORWARDED_PIP_SETTINGS:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _host_pip_settings() -> dict[str, str]:
    """`pip config list` of this interpreter (config files and PIP_* variables), by key."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    settings = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition("=")
        key = name.rpartition(".")[2]
        # Later lines win, as in pip: environment variables come last.
        with contextlib.suppress(ValueError, SyntaxError):
            settings[key] = str(ast.literal_eval(value))
    return settings


def _host_ca_bundle() -> str:
    candidates = [
        _host_pip_settings().get("cert"),
        os.environ.get("SSL_CERT_FILE"),
        ssl.get_default_verify_paths().cafile,
        CA_BUNDLE,
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise ImageBuildError("no CA bundle on this machine for pip inside the builds (install ca-certificates)")


# Helpers.


def _run(argv: Sequence[str], *, log: Path | None = None) -> str:
    """Run `argv`; its stdout, or with `log` its output appended there. Fails with the end of
    that output."""
    if log is None:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ImageBuildError(f"{shlex.join(argv)} failed ({done.returncode}):\n{done.stderr.strip()}")
        return done.stdout
    with open(log, "a") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        out.flush()
        started = time.monotonic()
        returncode = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        out.write(f"# exit status {returncode} after {time.monotonic() - started:.1f}s\n")
    if returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise ImageBuildError(f"{shlex.join(argv)} failed ({returncode}); the end of {log}:\n{tail}")
    return ""


def _hash(inputs: object) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _show(archive: Path) -> str:
    return f"{archive.relative_to(REPO_ROOT)} ({archive.stat().st_size / 1e6:,.0f} MB)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testenv.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="build every image again, whatever its key")
    args = parser.parse_args(argv)
    try:
        images = build_images(rebuild=args.rebuild)
    except ImageBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, image in images.items():
        print(f"   {name:<8} {image.ref:<40} {_show(image.archive)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
