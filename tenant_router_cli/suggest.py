"""An unknown option suggests only the options close to it, or none (Click's own list stretches as far as
`--bogus` -> `--jobs, --verbose`): the commands and the group are these classes."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

import typer.core

try:  # Typer 0.2x carries its own Click; older Typer runs on Click itself
    from typer._click.exceptions import NoSuchOption
except ImportError:  # pragma: no cover
    from click.exceptions import NoSuchOption  # type: ignore[assignment]

#: How alike an option must be to be suggested (difflib's ratio, names compared without their dashes):
#: `--jbos` -> `--jobs` (0.75), `--lock-wiat` -> `--lock-wait` (0.89); `--bogus` -> nothing.
CUTOFF = 0.7


def close_options(name: str, options: Iterable[str]) -> list[str]:
    """The long options close to `name`, closest first (at most three)."""
    bare = {option.lstrip("-"): option for option in options if option.startswith("--")}
    return [bare[m] for m in get_close_matches(name.lstrip("-"), list(bare), n=3, cutoff=CUTOFF)]


class _CloseSuggestions:
    """parse_args, with an unknown option's suggestions narrowed to close_options()."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except NoSuchOption as exc:
            params = self.get_params(ctx)  # type: ignore[attr-defined]
            options = [opt for param in params for opt in (*param.opts, *param.secondary_opts)]
            close = close_options(exc.option_name, options)
            raise NoSuchOption(exc.option_name, possibilities=close or None, ctx=exc.ctx) from None


class Command(_CloseSuggestions, typer.core.TyperCommand):
    """A command whose unknown options suggest only close ones."""


class Group(_CloseSuggestions, typer.core.TyperGroup):
    """The command group, likewise."""
