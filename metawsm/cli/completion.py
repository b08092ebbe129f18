"""``metawsm completion show|install``: shell completion for bash, zsh and fish.

The scripts come from cyclopts, generated from the command tree at the moment they are asked
for (so every command and flag that exists is in them); run ids, tickets and agent names are
completed at Tab time by :mod:`metawsm.cli.completers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cyclopts import App

from metawsm.cli import app
from metawsm.errors import UsageError

Shell = Literal["bash", "zsh", "fish"]


completion = App(
    name="completion",
    help="Shell completion for bash, zsh and fish: print the script, or install it.",
)
app.command(completion)


@completion.command
def show(shell: Shell, /) -> int:
    """Print the completion script for SHELL (bash, zsh or fish) on standard output.

    Commands and flags come from this metawsm; run ids, tickets and agent names are looked up
    in the root's database when you press Tab.

    For zsh, save it as _cyclopts_metawsm in a folder of $fpath (the file's name is the
    function zsh loads); for fish, as metawsm.fish in ~/.config/fish/completions.

    Example: metawsm completion show bash > ~/.local/share/bash-completion/completions/metawsm
    """
    print(app.generate_completion(prog_name="metawsm", shell=shell), end="")
    return 0


@completion.command
def install(*, shell: Shell | None = None, output: Path | None = None, startup: bool = True) -> int:
    """Install the completion script where SHELL loads it (and, unless --no-startup, add the
    line that loads it to the shell's startup file).

    Example: metawsm completion install --shell zsh

    Parameters
    ----------
    shell
        bash, zsh or fish (default: the shell you run).
    output
        Write the script here instead of the shell's usual place.
    startup
        Add the line that loads it to the shell's startup file (e.g. ~/.bashrc).
    """
    try:
        path = app.install_completion(shell=shell, output=output, add_to_startup=startup)
    except Exception as exc:  # a bad path, or cyclopts' ShellDetectionError
        raise UsageError(
            f"cannot install completion: {exc}", hint="name the shell: --shell bash|zsh|fish"
        ) from exc
    print(f"installed {shell or 'the'} completion at {path}; open a new shell to use it")
    return 0
