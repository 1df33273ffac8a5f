"""`python -m ivr ...`: the operator's command line, on Flask's click integration.

Each area declares its click commands in a module of this package; COMMANDS below is the one
table of them. Commands get the app from the group's ScriptInfo (`context.load_app`), whose
factory is `ivr.create_app` with settings from the environment; a test hands in its own app
with `app.test_cli_runner()`. Only `db upgrade`, `serve` and `worker` migrate the schema; any
other command on a database that is behind stops with one line saying to run `db upgrade`.
Errors meant for the operator are raised as CLIError and printed as one line, exit status 1.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import click
from flask.cli import FlaskGroup

from .. import create_app
from ..config import ConfigError


class CLIError(click.ClickException):
    """A problem the operator can fix; printed as one line `error: ...`, exit status 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class AreaGroup(click.Group):
    """An area's group of commands (`kb load`, `kb gaps`, ...), listed in the order declared."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


# Commands run under these get no WARNING-level logging set-up: they configure their own.
_SERVICE_COMMANDS = {"serve", "worker"}


def _quiet_closed_pipe() -> None:
    """The reader went away (`... --json | head`): point stdout at /dev/null so the final flush
    at exit has somewhere to go, as Python's documentation recommends for SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        pass
    finally:
        os.close(devnull)


class IvrGroup(FlaskGroup):
    """FlaskGroup with `ivr.create_app` as its factory and only our own commands: no `run`,
    `shell` or `routes`, no plugin entry points, no --app/--env-file/--debug, no .env loading
    (settings read their own), no FLASK_* environment defaults for options."""

    def __init__(self, **extra) -> None:
        extra.setdefault("context_settings", {"auto_envvar_prefix": None, "help_option_names": ["-h", "--help"]})
        super().__init__(add_default_commands=False, create_app=create_app, add_version_option=False,
                         load_dotenv=False, set_debug_flag=False, **extra)
        self.params = [p for p in self.params if p.name not in {"env_file", "app", "debug"}]

    # Listing or finding a command never loads the app (a behind schema must not break --help).
    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return click.Group.get_command(self, ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in COMMANDS order, as `--help` always listed them

    def invoke(self, ctx: click.Context):
        try:
            rv = super().invoke(ctx)
        except ConfigError as exc:  # a bad setting, or SchemaBehind: one line
            raise CLIError(str(exc)) from None
        except KeyboardInterrupt:
            ctx.exit(130)
        except BrokenPipeError:
            _quiet_closed_pipe()
            ctx.exit(1)
        if rv:  # a command's exit status
            ctx.exit(int(rv))
        return rv


@click.group(cls=IvrGroup, help="Self-hosted IVR help desk")
@click.pass_context
def cli(ctx: click.Context) -> None:
    if ctx.invoked_subcommand not in _SERVICE_COMMANDS:
        # Commands print their own results; only warnings and errors are logged.
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


# In the order of the table below: `doctor` lists its checks in the order their modules load.
from .calls import calls  # noqa: E402
from .db import db  # noqa: E402
from .doctor import doctor  # noqa: E402
from .hours import hours  # noqa: E402
from .kb import kb  # noqa: E402
from .orders import orders  # noqa: E402
from .prompts import prompts  # noqa: E402
from .recordings import recordings  # noqa: E402
from .report import report  # noqa: E402
from .serve import serve, worker  # noqa: E402 - each area's commands import CLIError from here
from .simulate import simulate  # noqa: E402
from .speech import models, transcribe  # noqa: E402
from .tickets import tickets  # noqa: E402
from .users import users  # noqa: E402

# The command line: every area's commands, in one table.
COMMANDS: list[click.Command] = [
    serve,
    worker,
    db,
    kb,
    orders,
    calls,
    simulate,
    models,
    transcribe,
    doctor,
    prompts,
    users,
    tickets,
    recordings,
    report,
    hours,
]

for _command in COMMANDS:
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ivr`: run the command line and return its exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="python -m ivr")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    try:
        sys.stdout.flush()  # output still buffered for a reader that is gone fails here
    except BrokenPipeError:
        _quiet_closed_pipe()
        code = 1
    return code
