"""Metadata instructions: each changes the run config and adds a 0B history row.

``apply(instruction, config, env, escape)`` returns the history text Docker's
classic builder records after ``<shell> #(nop) `` (for example
``" ENV A=1"``, ``"WORKDIR /srv/www"``), having changed ``config`` (the
OCI ``config`` object: Env, Cmd, Entrypoint, WorkingDir, User, Labels,
ExposedPorts, Volumes, StopSignal, Shell, Healthcheck, OnBuild).  ``env``
is what ``$VAR`` expands to: the config's Env over the declared ARGs.
"""

from __future__ import annotations

import json
import posixpath

from hold.build.dockerfile import Instruction, parse_duration
from hold.build.words import expand_word, expand_words
from hold.errors import InvalidArgument

__all__ = ["apply", "METADATA", "env_dict", "go_list", "go_quoted_list", "raw_words",
           "shell_of"]

DEFAULT_SHELL = ["/bin/sh", "-c"]


def env_dict(config: dict) -> dict[str, str]:
    env = {}
    for item in config.get("Env") or ():
        key, _, value = item.partition("=")
        env[key] = value
    return env


def shell_of(config: dict) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def go_quoted_list(items: list[str]) -> str:
    """Go's ``%q`` of a []string: ``["a" "b c"]``."""
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def go_list(items: list[str]) -> str:
    """Go's ``%v`` of a []string: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def _pairs(instruction: Instruction, env: dict[str, str], escape: str) -> list[tuple[str, str]]:
    text = instruction.args
    words = raw_words(text)
    if words and "=" not in words[0]:      # legacy ``ENV KEY value words``
        key, _, value = text.partition(" ")
        if "\t" in key:
            key, _, value = text.partition("\t")
        return [(expand_word(key, env, escape), expand_word(value.strip(), env, escape))]
    pairs = []
    for word in words:
        key, _, value = word.partition("=")
        pairs.append((expand_word(key, env, escape), expand_word(value, env, escape)))
    return pairs


def raw_words(text: str) -> list[str]:
    import re
    return re.findall(r'(?:"(?:\\.|[^"\\])*"|\'[^\']*\'|\\.|\S)+', text)


def _env(ins, config, env, escape):
    current = env_dict(config)
    pairs = _pairs(ins, env, escape)
    for key, value in pairs:
        if not key:
            raise ins.fail("ENV names an empty variable")
        current[key] = value    # values were expanded before any is set, as Docker does
    config["Env"] = [f"{k}={v}" for k, v in current.items()]
    return " ENV " + " ".join(f"{k}={v}" for k, v in pairs)


def _label(ins, config, env, escape):
    labels = dict(config.get("Labels") or {})
    pairs = _pairs(ins, env, escape)
    for key, value in pairs:
        if not key:
            raise ins.fail("LABEL names an empty key")
        labels[key] = value
    config["Labels"] = labels
    return " LABEL " + " ".join(f"{k}={v}" for k, v in pairs)


def _expose(ins, config, env, escape):
    from hold.images.config import apply_changes
    words = expand_words(ins.args, env, escape)
    try:
        changed = apply_changes(config, ["EXPOSE " + " ".join(words)])
    except InvalidArgument as exc:
        raise ins.fail(exc.message.split(" (in change")[0]) from None
    config["ExposedPorts"] = changed["ExposedPorts"]
    return " EXPOSE " + " ".join(sorted(words))     # Docker sorts them


def _volume(ins, config, env, escape):
    if ins.json is not None:
        paths = [expand_word(p, env, escape) for p in ins.json]
    elif ins.args.startswith("["):
        raise ins.fail("VOLUME JSON array is malformed: expected an array of strings")
    else:
        paths = expand_words(ins.args, env, escape)
    volumes = dict(config.get("Volumes") or {})
    for path in paths:
        if not path.strip():
            raise ins.fail("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes
    return " VOLUME " + go_list(paths)


def _workdir(ins, config, env, escape):
    path = expand_word(ins.args, env, escape)
    if not path:
        raise ins.fail("WORKDIR requires a path")
    config["WorkingDir"] = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/",
                                                             path))
    return "WORKDIR " + config["WorkingDir"]


def _user(ins, config, env, escape):
    user = expand_word(ins.args, env, escape)
    config["User"] = user
    return " USER " + user


def _stopsignal(ins, config, env, escape):
    from hold.images.config import apply_changes
    signal = expand_word(ins.args, env, escape)
    try:
        apply_changes({}, ["STOPSIGNAL " + signal])
    except InvalidArgument as exc:
        raise ins.fail(exc.message.split(" (in change")[0]) from None
    config["StopSignal"] = signal
    return " STOPSIGNAL " + signal


def _command(ins, config) -> list[str]:
    if ins.json is not None:
        return list(ins.json)
    return shell_of(config) + [ins.args]


def _cmd(ins, config, env, escape):
    config["Cmd"] = _command(ins, config)
    config["_cmd_set"] = True
    return " CMD " + go_quoted_list(config["Cmd"])


def _entrypoint(ins, config, env, escape):
    config["Entrypoint"] = _command(ins, config)
    if not config.get("_cmd_set"):
        config["Cmd"] = None                  # Docker resets an inherited CMD
    return " ENTRYPOINT " + go_quoted_list(config["Entrypoint"])


def _shell(ins, config, env, escape):
    if not ins.json:
        raise ins.fail("SHELL requires a non-empty JSON array")
    config["Shell"] = list(ins.json)
    return " SHELL " + go_list(config["Shell"])


def _healthcheck(ins, config, env, escape):
    kind, _, rest = ins.args.partition(" ")
    if kind.upper() == "NONE":
        config["Healthcheck"] = {"Test": ["NONE"]}
        return " HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}"
    rest = rest.strip()
    from hold.build.dockerfile import json_array
    exec_form = json_array(rest)
    test = ["CMD"] + exec_form if exec_form is not None else ["CMD-SHELL", rest]
    check = {"Test": test}
    shown = []
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                      ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
        value = expand_word(ins.flags.get(flag, "0s"), env, escape)
        nanos = parse_duration(value, ins, flag)
        if nanos:
            check[key] = nanos
        shown.append(json.dumps(value if flag in ins.flags else "0s"))
    retries = int(ins.flags.get("retries", "0"))
    if retries:
        check["Retries"] = retries
    config["Healthcheck"] = check
    return f" HEALTHCHECK &{{{go_quoted_list(test)} {' '.join(shown)} '\\x{retries:02x}'}}"


def _onbuild(ins, config, env, escape):
    keyword, _, rest = ins.args.strip().partition(" ")
    trigger = f"{keyword.upper()} {rest.strip()}"
    config["OnBuild"] = list(config.get("OnBuild") or []) + [trigger]
    return " ONBUILD " + trigger


def _maintainer(ins, config, env, escape):
    config["_author"] = expand_word(ins.args, env, escape)
    return " MAINTAINER " + config["_author"]


METADATA = {"ENV": _env, "LABEL": _label, "EXPOSE": _expose, "VOLUME": _volume,
            "WORKDIR": _workdir, "USER": _user, "STOPSIGNAL": _stopsignal,
            "CMD": _cmd, "ENTRYPOINT": _entrypoint, "SHELL": _shell,
            "HEALTHCHECK": _healthcheck, "ONBUILD": _onbuild,
            "MAINTAINER": _maintainer}


def apply(ins: Instruction, config: dict, env: dict[str, str], escape: str) -> str:
    """Run one metadata instruction on ``config`` (changed in place)."""
    try:
        return METADATA[ins.keyword](ins, config, env, escape)
    except InvalidArgument as exc:
        if exc.message.startswith("Dockerfile line"):
            raise
        raise ins.fail(exc.message) from None
