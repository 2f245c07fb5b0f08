"""CLI faces that read or derive from containers: ps, inspect, logs, diff,
commit, exec and container prune."""

from __future__ import annotations

import json
import os
import sys

from hold.cli.args import CommandParser, UsageError
from hold.cli.output import confirm, print_documents
from hold.errors import (CommandNotExecutable, CommandNotFound,
                         ContainerNotRunning, HoldError, InvalidArgument,
                         NotFound)

PS_FILTERS = {"id", "name", "label", "status", "exited", "ancestor", "before", "since"}
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Status": "STATUS",
              "Ports": "PORTS", "Names": "NAMES", "State": "STATE", "Size": "SIZE",
              "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


# -- ps -----------------------------------------------------------------------

def cmd_ps(ctx, argv: list[str]) -> int:
    p = CommandParser("ps", "hold ps [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action="store_true")
    p.add_argument("-s", "--size", action="store_true")
    ns = p.parse_args(argv)
    from hold import filters
    from hold.cli import formatting as fmt
    wanted = filters.parse_filters(ns.filter, PS_FILTERS)
    for status in wanted.get("status", []):
        if status not in STATUSES:
            raise InvalidArgument(f"invalid filter 'status={status}'")
    service = ctx.engine.containers
    containers = service.list()
    show_all = ns.all or ns.latest or ns.last > 0 or "status" in wanted or "exited" in wanted
    if not show_all:
        containers = [c for c in containers if c.running or c.state.get("Restarting")]
    containers = [c for c in containers if _ps_match(c, wanted, service)]
    if ns.latest:
        containers = containers[:1]
    elif ns.last > 0:
        containers = containers[:ns.last]
    rows = [_ps_row(ctx, c, ns.no_trunc, ns.size) for c in containers]
    if ns.quiet:
        for row in rows:
            print(row["ID"])
        return 0
    if ns.format:
        _print_formatted(fmt, ns.format, rows, PS_HEADERS)
        return 0
    columns = [("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Command", "COMMAND"),
               ("RunningFor", "CREATED"), ("Status", "STATUS"), ("Ports", "PORTS"),
               ("Names", "NAMES")]
    if ns.size:
        columns.append(("Size", "SIZE"))
    sys.stdout.write(fmt.render_table(rows, columns))
    return 0


def _print_formatted(fmt, template: str, rows: list[dict], headers: dict) -> None:
    if template == "json":
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
        return
    out = fmt.apply_format(template, rows, headers=headers) if template.startswith("table") \
        else "".join(fmt.apply_format(template, row) + "\n" for row in rows)
    sys.stdout.write(out if out.endswith("\n") or not out else out + "\n")


def _ps_match(c, wanted: dict, service) -> bool:
    from hold import filters
    if "id" in wanted and not any(c.id.startswith(v) for v in wanted["id"]):
        return False
    if "name" in wanted and not filters.match_name(c.name, wanted["name"]):
        return False
    if "label" in wanted and not filters.match_labels(c.config["Config"].get("Labels") or {},
                                                      wanted["label"]):
        return False
    if "status" in wanted and c.state["Status"] not in wanted["status"]:
        return False
    if "exited" in wanted and (c.state["Status"] != "exited" or
                               str(c.state["ExitCode"]) not in wanted["exited"]):
        return False
    if "ancestor" in wanted and not _ancestor_match(c, wanted["ancestor"], service):
        return False
    for key, newer in (("before", False), ("since", True)):
        for ref in wanted.get(key, []):
            other = service.get(ref)
            if (c.created > other.created) != newer or c.id == other.id:
                return False
    return True


def _ancestor_match(c, refs: list[str], service) -> bool:
    for ref in refs:
        try:
            image = service.images.get(ref)
        except NotFound:
            continue
        if image.id == c.image_id:
            return True
    return False


def _ps_row(ctx, c, no_trunc: bool, with_size: bool) -> dict:
    from hold.cli import formatting as fmt
    cfg = c.config["Config"]
    command = " ".join((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    labels = cfg.get("Labels") or {}
    row = {
        "ID": c.id if no_trunc else c.short_id,
        "Image": c.image_ref,
        "Command": f'"{command}"',
        "CreatedAt": _docker_date(c.created),
        "RunningFor": fmt.human_ago(fmt.parse_timestamp(c.created)),
        "Ports": "", "State": c.state["Status"],
        "Status": fmt.status_text(c.state),
        "Names": c.name,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": "", "Networks": c.config["HostConfig"]["NetworkMode"],
        "Size": "",
    }
    if with_size:
        size = _tree_size(os.path.join(ctx.paths.container_dir(c.id), "upper"))
        row["Size"] = f"{fmt.human_size(size)} (virtual {fmt.human_size(size)})"
    return row


def _docker_date(rfc3339: str) -> str:
    from hold.cli import formatting as fmt
    return fmt.parse_timestamp(rfc3339).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _tree_size(path: str) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size if name in filenames else 0
            except OSError:
                pass
    return total


# -- inspect ------------------------------------------------------------------

def cmd_inspect(ctx, argv: list[str]) -> int:
    p = CommandParser("inspect", "hold inspect [OPTIONS] NAME|ID [NAME|ID...]")
    p.add_argument("-f", "--format")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("--type")
    p.add_argument("objects", nargs="+")
    ns = p.parse_args(argv)
    if ns.type not in (None, "container", "image"):
        raise InvalidArgument(f'unknown type: "{ns.type}": must be one of "container", "image"')
    return _inspect(ctx, ns.objects, ns.format, ns.type, ns.size)


def cmd_container_inspect(ctx, argv: list[str]) -> int:
    p = CommandParser("container inspect", "hold container inspect [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-f", "--format")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("objects", nargs="+")
    ns = p.parse_args(argv)
    return _inspect(ctx, ns.objects, ns.format, "container", ns.size)


def _inspect(ctx, refs: list[str], template: str | None, kind: str | None, size: bool) -> int:
    from hold.containers.inspect import container_json
    from hold.cli.formatting import check_template
    check_template(template)
    results, failed = [], False
    for ref in refs:
        try:
            results.append(_inspect_one(ctx, ref, kind, size, container_json))
        except NotFound:
            sys.stderr.write(f"Error: No such object: {ref}\n" if kind is None
                             else f"Error: No such {kind}: {ref}\n")
            failed = True
    print_documents(results, template)
    return 1 if failed else 0


def _inspect_one(ctx, ref: str, kind: str | None, size: bool, container_json) -> dict:
    if kind in (None, "container"):
        try:
            c = ctx.engine.containers.get(ref)
            return container_json(ctx.engine, c, size)
        except NotFound:
            if kind == "container":
                raise
    return ctx.engine.images.inspect(ref)


# -- logs ---------------------------------------------------------------------

def cmd_logs(ctx, argv: list[str]) -> int:
    p = CommandParser("logs", "hold logs [OPTIONS] CONTAINER")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("container")
    ns = p.parse_args(argv)
    if ns.tail != "all" and not ns.tail.lstrip("-").isdigit():
        raise InvalidArgument(f'invalid value for "tail": "{ns.tail}": expected a number or "all"')
    service = ctx.engine.containers
    container = service.get(ns.container)
    from hold.containers.logs import follow_log, read_log
    path = service.log_path(container)
    tail = None if ns.tail == "all" or int(ns.tail) < 0 else int(ns.tail)
    offset = read_log(path, tail, ns.timestamps)
    if ns.follow:
        follow_log(path, offset, ns.timestamps,
                   still_running=lambda: _still_running(service, container.id))
    return 0


def _still_running(service, cid: str) -> bool:
    try:
        c = service.get(cid)
    except NotFound:
        return False
    return c.running or bool(c.state.get("Restarting"))


# -- diff, commit, prune --------------------------------------------------------

def cmd_diff(ctx, argv: list[str]) -> int:
    p = CommandParser("diff", "hold diff CONTAINER")
    p.add_argument("container")
    ns = p.parse_args(argv)
    from hold.containers.diff import changes
    container = ctx.engine.containers.get(ns.container)
    image = ctx.engine.images.get(container.image_id)
    base = ctx.paths.container_dir(container.id)
    lowers = [os.path.join(base, "init")] + list(reversed(image.layer_dirs))
    for kind, path in changes(os.path.join(base, "upper"), lowers):
        print(f"{kind} {path}")
    return 0


def cmd_commit(ctx, argv: list[str]) -> int:
    p = CommandParser("commit", "hold commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-m", "--message", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-p", "--pause", action="store_true", default=True)
    p.add_argument("container")
    p.add_argument("reference", nargs="?")
    ns = p.parse_args(argv)
    from hold.containers.commit import commit_container
    image = commit_container(ctx.engine, ns.container, ns.reference, ns.change,
                             ns.message, ns.author)
    print(image.id)
    return 0


def cmd_prune(ctx, argv: list[str]) -> int:
    p = CommandParser("container prune", "hold container prune [OPTIONS]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    from hold import filters
    from hold.cli import formatting as fmt
    wanted = filters.parse_filters(ns.filter, {"until", "label", "label!"})
    if not ns.force and not confirm("WARNING! This will remove all stopped containers.\n"
                                     "Are you sure you want to continue? [y/N] "):
        return 0
    service = ctx.engine.containers
    removed, reclaimed = [], 0
    for c in service.list():
        if c.running or c.state.get("Restarting"):
            continue
        labels = c.config["Config"].get("Labels") or {}
        if "label" in wanted and not filters.match_labels(labels, wanted["label"]):
            continue
        if "until" in wanted and not all(filters.match_until(c.created, v) for v in wanted["until"]):
            continue
        reclaimed += _tree_size(os.path.join(ctx.paths.container_dir(c.id), "upper"))
        service.remove(c.id)
        removed.append(c.id)
    if removed:
        print("Deleted Containers:")
        for cid in removed:
            print(cid)
        print()
    print(f"Total reclaimed space: {fmt.human_size(reclaimed)}")
    return 0


# -- exec ---------------------------------------------------------------------

def cmd_exec(ctx, argv: list[str]) -> int:
    import argparse
    p = CommandParser("exec", "hold exec [OPTIONS] CONTAINER COMMAND [ARG...]")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    if not ns.command:
        raise UsageError("\"hold exec\" requires at least 2 arguments.\n"
                         "See 'hold exec --help'.")
    from hold.containers.exec import run_exec
    from hold.runtime.exec import ExecError
    try:
        return run_exec(ctx.engine, ns)
    except ExecError as exc:
        kind = {127: CommandNotFound, 126: CommandNotExecutable}.get(exc.code, HoldError)
        raise kind(f"exec failed: {exc}") from exc


__all__ = ["cmd_ps", "cmd_inspect", "cmd_container_inspect", "cmd_logs", "cmd_diff",
           "cmd_commit", "cmd_prune", "cmd_exec", "ContainerNotRunning"]
