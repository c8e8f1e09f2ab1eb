"""The `skillmix` command line (typer): one module per group of commands.

Heavy libraries (pandas, scipy, matplotlib, torch, the SDKs) are imported inside the commands
that use them, so `skillmix --help` and `skillmix catalog validate` start fast.
"""

from typing import Any

import typer

# typer vendors click since 0.26: its exceptions and Context, not the `click` package's.
from typer._click.core import Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from skillmix.cli.calibrate import calibrate_command
from skillmix.cli.catalog import catalog_app
from skillmix.cli.console import errors
from skillmix.cli.evaluate import eval_command, sample_command
from skillmix.cli.export_sft import export_sft_command
from skillmix.cli.finetune import finetune_command
from skillmix.cli.learn import learn_command
from skillmix.cli.official import import_official_command
from skillmix.cli.prompts import prompts_command
from skillmix.cli.regrade import regrade_command
from skillmix.cli.results import compare_command, export_command, report_command


def _usage_line(error: UsageError) -> typer.Exit:
    """Misuse of the command line, in one line like every other bad input (click's own display
    is a usage block and a framed message)."""
    command = error.ctx.command_path if error.ctx is not None else "skillmix"
    errors.print(
        f"error: {command}: {error.format_message()} (see '{command} --help')",
        markup=False,
        highlight=False,
    )
    return typer.Exit(error.exit_code)


class _OneLineErrors(TyperGroup):
    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as error:
            raise _usage_line(error) from None

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            raise _usage_line(error) from None


app = typer.Typer(
    cls=_OneLineErrors,
    name="skillmix",
    help="Skill-Mix: measure how well language models combine skills.",
    no_args_is_help=True,
)
app.command("eval")(eval_command)
app.command("regrade")(regrade_command)
app.command("report")(report_command)
app.command("compare")(compare_command)
app.command("export")(export_command)
app.command("export-sft")(export_sft_command)
app.command("import-official")(import_official_command)
app.command("sample")(sample_command)
app.command("prompts")(prompts_command)
app.command("calibrate")(calibrate_command)
app.command("finetune")(finetune_command)
app.command("learn")(learn_command)
app.add_typer(catalog_app, name="catalog")

__all__ = ["app"]
