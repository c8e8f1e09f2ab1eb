"""The `skillmix` command line (typer): one module per group of commands.

Heavy libraries (pandas, scipy, matplotlib, torch, the SDKs) are imported inside the commands
that use them, so `skillmix --help` and `skillmix catalog validate` start fast.
"""

import typer

from skillmix.cli.catalog import catalog_app
from skillmix.cli.evaluate import eval_command, sample_command
from skillmix.cli.official import import_official_command
from skillmix.cli.prompts import prompts_command
from skillmix.cli.results import compare_command, export_command, report_command

app = typer.Typer(
    help="Skill-Mix: measure how well language models combine skills.", no_args_is_help=True
)
app.command("eval")(eval_command)
app.command("report")(report_command)
app.command("compare")(compare_command)
app.command("export")(export_command)
app.command("import-official")(import_official_command)
app.command("sample")(sample_command)
app.command("prompts")(prompts_command)
app.add_typer(catalog_app, name="catalog")

__all__ = ["app"]
