"""The CLI's one error boundary: a user's mistake is one red line on stderr and exit code 2.

Library messages name Python parameters in backticks (`input_shape`, `device=cpu`); here they become
the command's own flags (--input-shape, --device cpu), read off the command's declared options.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import get_args

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["user_errors", "cli_text", "command_flags", "fail"]

# backticked library names that are no parameter of a command, and what a CLI user types instead
_PHRASES = {
    "node_names(model)": "tapfinder inspect MODEL --all",
    "Selection.to_json()": "tapfinder inspect MODEL --json FILE",
    "dynamo=False": "--torchscript",
    "dynamo=True": "the default exporter (no --torchscript)",
    "example_inputs": "example_input() in the model file",
    "fit(resume=True)": "tapfinder train with its flags and --resume",
}
_TICKED = re.compile(r"`([^`]+)`")


def cli_text(message: str, flags: dict[str, str]) -> str:
    """``message`` with each backticked parameter written as the flag that sets it.

    >>> flags = {"device": "--device", "lr": "--lr"}
    >>> cli_text("use `device=cpu` or lower `lr`; see `node_names(model)`", flags)
    'use --device cpu or lower --lr; see tapfinder inspect MODEL --all'
    >>> cli_text("trained with `amp=False` `alpha=None` `resume=True` `sync_bn=True`",
    ...          {"amp": "--amp", "alpha": "--alpha", "resume": "--resume"})
    'trained with no --amp no --alpha --resume `sync_bn=True`'
    """

    def flag(match: re.Match) -> str:
        token = match.group(1)
        if token in _PHRASES:
            return _PHRASES[token]
        name, eq, value = token.partition("=")
        if name not in flags:
            return match.group(0)
        if not eq or value == "True":
            return flags[name]
        return f"no {flags[name]}" if value in ("False", "None") else f"{flags[name]} {value}"

    return _TICKED.sub(flag, message)


def command_flags(command) -> dict[str, str]:
    """Parameter name → the long flag of each option a Typer command function declares.

    >>> from typing import Annotated
    >>> def cmd(input_shape: Annotated[str, typer.Option("--input-shape")] = "",
    ...         json_out: Annotated[str, typer.Option("--json", "-j")] = "", lr: float = 1.0): ...
    >>> command_flags(cmd)
    {'input_shape': '--input-shape', 'json_out': '--json', 'lr': '--lr'}
    >>> def pair(check: Annotated[bool, typer.Option("--check/--no-check")] = True): ...
    >>> command_flags(pair)
    {'check': '--check'}
    """
    flags = {}
    for name, param in inspect.signature(command, eval_str=True).parameters.items():
        infos = [
            m for m in get_args(param.annotation)[1:] if isinstance(m, typer.models.ParameterInfo)
        ]
        if infos and not isinstance(infos[0], typer.models.OptionInfo):
            continue  # an argument, not an option
        decls = [
            d for info in infos for d in (info.default, *info.param_decls) if isinstance(d, str)
        ]
        flag = next((d for d in decls if d.startswith("--")), f"--{name.replace('_', '-')}")
        flags[name] = flag.partition("/")[0]  # an on/off pair: its "on" flag
    return flags


def fail(message: str, flags: dict[str, str] | None = None, code: int = 2) -> None:
    """Print ``message`` (parameters written as ``flags``) as one red line on stderr; exit with
    ``code``."""
    text = escape(cli_text(message, flags or {}))
    Console(stderr=True).print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def user_errors(command):
    """Wrap a command: a :class:`TapfinderError` ends it in one line and exit 2 (``--debug``:
    raised)."""
    flags = command_flags(command)

    @functools.wraps(command)
    def run(*args, **kwargs):
        from tapfinder.errors import TapfinderError

        try:
            return command(*args, **kwargs)
        except TapfinderError as e:
            if kwargs.get("debug"):
                raise
            fail(str(e), flags)

    return run
