"""The builder: a parsed Dockerfile -> a stack of images, one per instruction.

This is Docker's classic builder, step for step::

    parse (dockerfile.py)         all syntax errors before anything is built
    check tags, --target, --build-arg
    for each stage up to --target:
        FROM      base image, "scratch", or an earlier stage; runs the base's
                  ONBUILD triggers
        RUN       a build container over the layers so far (_run.py); its
                  upperdir becomes a layer
        COPY/ADD  sources from the context (context.py) or a stage, written
                  into a fresh upperdir (_copy.py); it becomes a layer
        others    change the run config (_metadata.py); a 0B history row
    --label   one more LABEL row on the final image
    tag

Each step commits an image (``ImageService.commit``) whose parent is the
previous step's image; these untagged intermediate images are the **layer
cache**: ``<root>/build/cache/<key>`` holds the image id a step produced,
where the key hashes the parent image id, the step's history text (which
for COPY/ADD holds a hash of the sources' names, modes and contents), the
resulting run config and the step's flags.  A build that fails removes the
images it made, so it leaves no image, no scratch directory and no mount.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass, field

from hold.build import _metadata
from hold.build._run import BuildContainer, RunFailed
from hold.build.dockerfile import Dockerfile, Instruction, check, parse
from hold.build.words import expand_word, expand_words
from hold.errors import HoldError, ImageNotFound, InvalidArgument, Unsupported

__all__ = ["BuildOptions", "Builder", "PROXY_ARGS"]

#: Build args Docker accepts without an ARG instruction (never in history).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")


@dataclass
class BuildOptions:
    context: str
    dockerfile: str = ""              # "" = <context>/Dockerfile; "-" = stdin
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    network: str = "none"             # RUN's network: "none" or "host"


@dataclass
class _Stage:
    """The state of the stage being built."""

    image: object                     # Image, or None for scratch
    config: dict                      # run config; "_"-keys are build-only
    args: dict[str, str | None] = field(default_factory=dict)


def automatic_args() -> dict[str, str]:
    """TARGETPLATFORM and friends, given when an ARG declares them."""
    from hold.images.config import host_architecture
    arch = host_architecture()
    values = {}
    for prefix in ("TARGET", "BUILD"):
        values.update({f"{prefix}PLATFORM": f"linux/{arch}", f"{prefix}OS": "linux",
                       f"{prefix}ARCH": arch, f"{prefix}VARIANT": ""})
    return values


class Builder:
    def __init__(self, images, paths, options: BuildOptions, out=None):
        self.images = images
        self.paths = paths
        self.options = options
        self.out = out or sys.stdout
        self.context = None
        self.dockerfile: Dockerfile | None = None
        self.created: list[str] = []          # image ids this build made
        self.consumed: set[str] = set()
        self.stage_images: dict[int, object] = {}
        self.step = 0
        self.total = 0

    # ------------------------------------------------------------ driving

    def build(self):
        """Build; returns the final Image.  Raises HoldError kinds."""
        from hold.build.context import BuildContext
        options = self.options
        self._check_options()
        self.context = BuildContext(options.context)
        self.dockerfile = parse(self._read_dockerfile())
        plan = self._plan()
        self.total = len(self.dockerfile.meta_args) + sum(
            1 + len(stage.instructions) for stage in plan)
        try:
            meta = self._meta_args()
            image = None
            for stage in plan:
                image = self._build_stage(stage, meta)
                self.stage_images[stage.index] = image
            if image is None:
                raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
            if options.labels:
                image = self._final_labels(image)
            for tag in options.tags:
                self.images.tag(image.id, tag)
        except BaseException:
            self._discard()
            raise
        self._warn_unconsumed()
        if options.quiet:
            self.out.write(image.id + "\n")
        else:
            self._say(f"Successfully built {image.short_id}")
            for tag in options.tags:
                self._say(f"Successfully tagged {_familiar(tag)}")
        self.out.flush()
        return image

    def _check_options(self) -> None:
        import re
        from hold.images.reference import parse_reference
        for tag in self.options.tags:
            if parse_reference(tag).digest:
                raise InvalidArgument(f"invalid tag {tag!r}: a tag cannot hold a digest")
        for key in self.options.build_args:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise InvalidArgument(f"invalid --build-arg {key!r}: expected NAME=VALUE "
                                      "with a name of letters, digits and _")
        for key in self.options.labels:
            if not key:
                raise InvalidArgument("invalid --label: the key is empty")

    def _read_dockerfile(self) -> str:
        name = self.options.dockerfile
        if name == "-":
            return sys.stdin.read().lstrip("\ufeff")
        if not name:
            name = os.path.join(self.options.context, "Dockerfile")
            if not os.path.exists(name) and os.path.exists(
                    os.path.join(self.options.context, "dockerfile")):
                name = os.path.join(self.options.context, "dockerfile")
        try:
            with open(name, encoding="utf-8-sig") as f:     # a BOM is dropped, as Docker does
                return f.read()
        except (FileNotFoundError, IsADirectoryError):
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"Dockerfile {name} is not UTF-8 text: {exc}") from None

    def _plan(self) -> list:
        stages = self.dockerfile.stages
        if not self.options.target:
            return stages
        index = self.dockerfile.stage_index(self.options.target)
        if index is None:
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise InvalidArgument(f"failed to reach build target {self.options.target} "
                                  f"in Dockerfile (stages named: {names})")
        return stages[:index + 1]

    def _say(self, text: str) -> None:
        if not self.options.quiet:
            self.out.write(text + "\n")
            self.out.flush()

    def _begin_step(self, ins: Instruction) -> None:
        self.step += 1
        self._say(f"Step {self.step}/{self.total} : {ins.original}")

    def _discard(self) -> None:
        for image_id in reversed(self.created):
            try:
                self.images.remove(image_id)
            except HoldError:
                pass
        self.created = []

    def _warn_unconsumed(self) -> None:
        left = sorted(k for k in self.options.build_args
                      if k not in self.consumed and k not in PROXY_ARGS)
        if left:
            sys.stderr.write(f"[Warning] One or more build-args [{' '.join(left)}] "
                             "were not consumed\n")

    # ------------------------------------------------------------ stages

    def _meta_args(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for ins in self.dockerfile.meta_args:
            self._begin_step(ins)
            for name, value in self._declare(ins, values, {}).items():
                if value is not None:
                    values[name] = value
        return values

    def _declare(self, ins: Instruction, env: dict[str, str],
                 meta: dict[str, str]) -> dict[str, str | None]:
        """Names and values an ARG instruction declares."""
        declared: dict[str, str | None] = {}
        auto = automatic_args()
        for word in _metadata.raw_words(ins.args):
            name, sep, default = word.partition("=")
            if name in self.options.build_args:
                value = self.options.build_args[name]
                self.consumed.add(name)
            elif sep:
                value = expand_word(default, {**env, **declared_values(declared)},
                                    self.dockerfile.escape)
            elif name in meta:
                value = meta[name]
            else:
                value = auto.get(name)
            declared[name] = value
        return declared

    def _build_stage(self, stage, meta: dict[str, str]):
        ins = stage.from_instruction
        self._begin_step(ins)
        base_ref = expand_word(stage.base, meta, self.dockerfile.escape)
        self._check_platform(ins, meta)
        base = self._base_image(base_ref, ins)
        state = _Stage(base, _strip(copy.deepcopy(base.container_config)) if base else {})
        if "PATH" not in _metadata.env_dict(state.config):
            # Docker's classic builder gives a stage without PATH the default one
            state.config["Env"] = list(state.config.get("Env") or []) + [f"PATH={DEFAULT_PATH}"]
        if base is not None:
            self._say(f" ---> {base.short_id}")
        triggers = list(state.config.get("OnBuild") or ())
        if state.config.get("OnBuild"):
            state.config["OnBuild"] = None
        if triggers:
            self._say(f"# Executing {len(triggers)} build trigger"
                      f"{'s' if len(triggers) > 1 else ''}")
            for text in triggers:
                from hold.build.dockerfile import parse_instruction
                trigger = check(parse_instruction(ins.line, text, self.dockerfile.escape))
                self._dispatch(state, trigger, meta)
        for ins in stage.instructions:
            self._begin_step(ins)
            self._dispatch(state, ins, meta)
            if state.image is not None:
                self._say(f" ---> {state.image.short_id}")
        return state.image

    def _check_platform(self, ins: Instruction, meta: dict[str, str]) -> None:
        platform = ins.flags.get("platform")
        if not platform:
            return
        value = expand_word(platform, {**automatic_args(), **meta}, self.dockerfile.escape)
        host = automatic_args()["TARGETPLATFORM"]
        if value.split("/")[:2] != host.split("/"):
            raise Unsupported(f"Dockerfile line {ins.line}: FROM --platform={value}: hold "
                              f"builds for this machine's platform ({host}) only")

    def _base_image(self, ref: str, ins: Instruction):
        if ref.lower() == "scratch":
            return None
        index = self.dockerfile.stage_index(ref)
        if index is not None and index in self.stage_images and not ref.isdigit():
            return self.stage_images[index]
        try:
            return self.images.get(ref)
        except ImageNotFound:
            raise ImageNotFound(f"Dockerfile line {ins.line}: FROM {ref}: no such image "
                                "(hold build does not pull: import, load or build it "
                                "first)", ref=ref) from None

    # ------------------------------------------------------------ steps

    def _env(self, state: _Stage) -> dict[str, str]:
        env = declared_values(state.args)
        env.update(_metadata.env_dict(state.config))
        return env

    def _dispatch(self, state: _Stage, ins: Instruction, meta: dict[str, str]) -> None:
        if ins.keyword == "ARG":
            state.args.update(self._declare(ins, self._env(state), meta))
            self._commit_metadata(state, " ARG " + ins.args, state.config)
        elif ins.keyword == "RUN":
            self._run(state, ins)
        elif ins.keyword in ("COPY", "ADD"):
            self._copy(state, ins)
        else:
            config = copy.deepcopy(state.config)
            text = _metadata.apply(ins, config, self._env(state), self.dockerfile.escape)
            self._commit_metadata(state, text, config, ins.keyword == "WORKDIR")

    def _commit_metadata(self, state: _Stage, text: str, config: dict,
                         workdir: bool = False) -> None:
        """A 0B step.  The history text starts with the shell in force after
        the instruction (a SHELL row shows its new shell, as in Docker)."""
        created_by = " ".join(_metadata.shell_of(config)) + " #(nop) " + text

        def make():
            diff_id = self._make_workdir(state, config["WorkingDir"]) if workdir else None
            return self._commit(state, diff_id, created_by, config)

        state.image = self._cached(state, created_by, config, "", make)
        state.config = config

    def _make_workdir(self, state: _Stage, path: str) -> str | None:
        """WORKDIR creates its directory (root-owned, 0755) when the image
        lacks it, as Docker does: a layer of empty directories, shown as 0B."""
        from hold.build import _copy
        with BuildContainer(self.paths) as box:
            view = _copy.ImageView.of(state.image, box.upper)
            resolved = view.resolve(path)
            found = view.lstat(resolved)
            if found is None or not stat.S_ISDIR(found.st_mode):
                _copy.ensure_dir(view, box.upper, resolved, (0, 0))
            return self._layer(box.upper)

    def _commit(self, state: _Stage, diff_id, created_by: str, config: dict):
        image = self.images.commit(state.image, diff_id, created_by=created_by,
                                   container_config=_strip(config),
                                   author=config.get("_author") or (
                                       state.image.config.get("author", "")
                                       if state.image else ""))
        self.created.append(image.id)
        return image

    def _run(self, state: _Stage, ins: Instruction) -> None:
        config = state.config
        args = list(ins.json) if ins.json is not None else \
            _metadata.shell_of(config) + [ins.args]
        env = _metadata.env_dict(config)
        build_env = sorted(f"{k}={v}" for k, v in state.args.items()
                           if v is not None and k not in env)
        prefix = f"|{len(build_env)} {' '.join(build_env)} " if build_env else ""
        created_by = prefix + " ".join(args)
        proxies = [f"{k}={v}" for k, v in self.options.build_args.items()
                   if k in PROXY_ARGS and k not in env and k not in state.args]

        def make():
            with BuildContainer(self.paths) as box:
                self._say(f" ---> Running in {box.short_id}")
                code = box.run(state.image, args, config.get("Env", []) + build_env + proxies,
                               config.get("WorkingDir") or "/", config.get("User") or "",
                               self.options.quiet, self.options.network)
                if code != 0:
                    error = RunFailed(f"The command '{' '.join(args)}' returned a "
                                      f"non-zero code: {code}", code)
                    error.exit_code = code if 0 < code < 256 else 1
                    raise error
                diff_id = self._layer(box.upper)
                self._say(f"Removing intermediate container {box.short_id}")
            return self._commit(state, diff_id, created_by, config)

        state.image = self._cached(state, created_by, config, "|".join(proxies), make)

    def _layer(self, upper: str) -> str | None:
        """The step's layer, or None when it changed nothing: Docker records
        an empty diff as an empty-layer (0B) history entry, not a layer."""
        if not os.listdir(upper):
            return None
        diff_id, _ = self.images.layer_from_upperdir(upper)
        return diff_id

    def _copy(self, state: _Stage, ins: Instruction) -> None:
        from hold.build import _copy
        from hold.build.context import content_hash
        env, escape = self._env(state), self.dockerfile.escape
        words = [expand_word(w, env, escape) for w in ins.json] if ins.json is not None \
            else expand_words(ins.args, env, escape)
        if len(words) < 2:
            raise ins.fail(f"{ins.keyword} requires at least two arguments")
        *patterns, dest = words
        reader = self.context
        if "from" in ins.flags:
            reader = _copy.ImageView.of(self._from_image(ins, env))
        for pattern in patterns:
            if pattern.startswith(("http://", "https://", "git@", "git://")):
                raise ins.fail(f"{pattern}: ADD from a URL needs network access, which "
                               "hold build does not have; download it into the build "
                               "context and ADD the file")
        try:
            sources = [s for p in patterns for s in reader.sources(p, ins.keyword)]
        except InvalidArgument as exc:
            raise ins.fail(exc.message) from None
        chmod = _chmod(ins)
        digest = content_hash(reader, sources)
        chown = expand_word(ins.flags["chown"], env, escape) if "chown" in ins.flags else ""
        # Docker writes the flag glued to the hash: "COPY --chown=1:1file:<hex> in /x "
        created_by = (" ".join(_metadata.shell_of(state.config)) + f" #(nop) {ins.keyword} "
                      f"{'--chown=' + chown if chown else ''}{digest} in {dest} ")
        extra = json.dumps([chown, chmod, ins.flags.get("from")])

        def make():
            with BuildContainer(self.paths) as box:
                view = _copy.ImageView.of(state.image, box.upper)
                try:
                    owner = _copy.resolve_owner(chown, view) if chown else (0, 0)
                    self._write_sources(ins, reader, sources, view, box, dest, state,
                                        owner, chmod)
                except InvalidArgument as exc:
                    raise ins.fail(exc.message) from None
                diff_id = self._layer(box.upper)
            return self._commit(state, diff_id, created_by, state.config)

        state.image = self._cached(state, created_by, state.config, extra, make)

    def _write_sources(self, ins, reader, sources, view, box, dest, state, owner, chmod):
        from hold.build import _copy
        workdir = state.config.get("WorkingDir") or "/"
        if ins.keyword == "ADD":
            archives = [s for s in sources if not s.is_dir and _copy.is_archive(s.path)]
            if archives:
                target, _ = _copy.destination(view, dest.rstrip("/") + "/", workdir,
                                              len(sources) > 1, ins.keyword)
                for source in archives:
                    _copy.extract_archive(source.path, view, box.upper, target,
                                          self.paths.tmp)
                sources = [s for s in sources if s not in archives]
                if not sources:
                    return
                dest = dest if dest.endswith("/") else dest + "/"
        _copy.copy_sources(reader, sources, view, box.upper, dest, workdir, owner, chmod,
                           ins.keyword)

    def _from_image(self, ins: Instruction, env: dict[str, str]):
        ref = expand_word(ins.flags["from"], env, self.dockerfile.escape)
        index = self.dockerfile.stage_index(ref)
        if index is not None:
            if index not in self.stage_images:
                raise ins.fail(f"--from={ref}: stage {ref} is not built before this one")
            return self.stage_images[index]
        try:
            return self.images.get(ref)
        except ImageNotFound:
            raise ins.fail(f"--from={ref}: no such build stage or image") from None

    def _final_labels(self, image):
        config = _strip(copy.deepcopy(image.container_config))
        labels = dict(config.get("Labels") or {})
        labels.update(self.options.labels)
        config["Labels"] = labels
        text = " LABEL " + " ".join(f"{k}={v}" for k, v in sorted(self.options.labels.items()))
        created_by = " ".join(_metadata.shell_of(config)) + " #(nop) " + text
        state = _Stage(image, config)
        return self._cached(state, created_by, config, "",
                            lambda: self._commit(state, None, created_by, config))

    # ------------------------------------------------------------ cache

    def _cached(self, state: _Stage, created_by: str, config: dict, extra: str, make):
        key = hashlib.sha256(json.dumps(
            [state.image.id if state.image else "scratch", created_by, _strip(config),
             config.get("_author", ""), extra], sort_keys=True).encode()).hexdigest()
        path = os.path.join(self.paths.root, "build", "cache", key)
        if not self.options.no_cache:
            hit = self._cache_lookup(path, state)
            if hit is not None:
                self._say(" ---> Using cache")
                return hit
        image = make()
        from hold.store import atomic_write
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, image.id.encode())
        return image

    def _cache_lookup(self, path: str, state: _Stage):
        try:
            with open(path) as f:
                image_id = f.read().strip()
        except OSError:
            return None
        try:
            image = self.images.get(image_id)
        except HoldError:
            return None
        parent = state.image.id if state.image else ""
        return image if image.parent == parent else None


def declared_values(args: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in args.items() if v is not None}


def _strip(config: dict) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


def _chmod(ins: Instruction) -> int | None:
    value = ins.flags.get("chmod")
    if value is None:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise ins.fail(f"--chmod={value}: expected an octal mode such as 755") from None
    if not 0 <= mode <= 0o7777:
        raise ins.fail(f"--chmod={value}: mode out of range")
    return mode


def _familiar(tag: str) -> str:
    from hold.images.reference import parse_reference
    return parse_reference(tag).familiar
