"""Words for people: marked where they are written, said in a language where they are shown.

The English texts in the code are the message ids. `N_` and `NP_` mark them for extraction into
the catalogs (`pybabel extract`, see babel.cfg) and return them unchanged. A stage below
`bot.i18n` that has something to tell the user (a refused query, a failed search) raises a
`UserError` that carries its message id and parameters; the stage that knows the chat's
language says it (`error.localized(tr)`). This module imports nothing of the bot, so every
stage may use it.
"""

from __future__ import annotations

from typing import Any, Protocol


def N_(message: str) -> str:
    """Mark an English text for extraction into the catalogs; it is returned unchanged."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a text with a plural form for extraction; use it with `Translator.plural`."""
    return singular, plural


class Translate(Protocol):
    """Says a message id in one language, filling its `{placeholders}` (`bot.i18n`'s
    `Translator` is one)."""

    def __call__(self, message: str, /, **params: Any) -> str: ...


def english(message: str, /, **params: Any) -> str:
    """The message id itself, which is the English text, filled with its parameters."""
    return message.format(**params) if params else message


class UserError(Exception):
    """An error with a message for the user: a `N_` text filled with ``params``.

    str() is the English sentence; `localized(tr)` says it in the language of `tr`. A
    parameter that is itself a `UserError` (a nested error) is said in that language too.
    """

    def __init__(self, template: str, /, **params: object) -> None:
        self.template, self.params = template, params
        super().__init__(self.localized(english))

    def localized(self, tr: Translate) -> str:
        """The message in the language of `tr`."""
        filled = {
            name: value.localized(tr) if isinstance(value, UserError) else value
            for name, value in self.params.items()
        }
        return tr(self.template, **filled)
