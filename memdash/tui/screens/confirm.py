"""Confirmation before a cleanup, and the result after it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from memdash.model import CleanupResult
from memdash.prediction import comparison_text
from memdash.textsafe import printable
from memdash.tui import safe
from memdash.tui.screens import RepaintBelowOnClose
from memdash.units import human_bytes


class ConfirmCleanup(RepaintBelowOnClose, ModalScreen[bool]):
    """Asks "run ACTION on TARGET?"; dismisses with True only on yes."""

    DEFAULT_CSS = """
    ConfirmCleanup { align: center middle; }
    ConfirmCleanup > Vertical { width: 64; max-width: 95%; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    ConfirmCleanup #confirm-question { text-style: bold; }
    ConfirmCleanup #confirm-subject { color: $text-muted; }
    ConfirmCleanup Horizontal { height: auto; margin-top: 1; }
    /* Legible in every theme: Textual's focused warning button reverses its own
       colours (the label vanished in memdash's themes). Plain buttons here; the
       focused one takes the accent with a contrasting label. */
    ConfirmCleanup Button { margin-right: 2; background: $panel; color: $foreground; border: tall $panel;
        text-style: bold; }
    ConfirmCleanup Button:hover { background: $panel; color: $foreground; border: tall $primary; }
    ConfirmCleanup Button:focus { background: $primary; color: auto 95%; border: tall $primary; text-style: bold; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes, run it", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_no"),
    ]

    def __init__(self, target: str, action: str, description: str, subject: str = "",
                 prediction: str | None = None) -> None:
        """``subject``: what the target is (program, pid, URL), shown under the question;
        ``prediction``: what the figures expect (memdash.prediction.prediction_text)."""
        super().__init__()
        self.target = target
        self.action_name = action
        self.description = description
        self.subject = subject
        self.prediction = prediction

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe.text("Run ", self.action_name, " on ", self.target, "?"), id="confirm-question")
            # Program, pid and URL name what will be reached: the process's and the config's words.
            yield Static(safe.text(self.subject), id="confirm-subject")
            yield Static(safe.text(self.description))
            if self.prediction:
                yield Static(safe.text(self.prediction), id="confirm-prediction")
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button("Yes (y)", id="yes")

    def on_mount(self) -> None:
        # Focus starts on No: an Enter typed ahead of the dialog runs nothing.
        for button in self.query("#no"):  # none when the app quits as the dialog opens
            button.focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


def describe_result(r: CleanupResult) -> str:
    """One or two lines a person reads after a cleanup.

    Plain text with remote parts in it (target, error, note): show it with
    :func:`memdash.tui.safe.lines` / :func:`memdash.tui.safe.notify`, never as markup."""
    # Remote parts are escaped here, so the only line break is ours (before the note).
    action, target = printable(r.action), printable(r.target)
    if not r.ok:
        error = printable(r.error) or "no reason given"
        # The source may already say "refused: ..."; say it once.
        for word in ("refused: ", "refused "):
            if error.lower().startswith(word):
                error = error[len(word):]
                break
        return f"{action} on {target} refused: {error}"
    parts = [f"{action} on {target} done"]
    if r.rss_before_bytes is not None and r.rss_after_bytes is not None:
        freed = r.rss_freed_bytes or 0
        verdict = f"freed {human_bytes(freed)}" if freed > 0 else "nothing returned to the OS"
        parts.append(f"RSS {human_bytes(r.rss_before_bytes)} -> {human_bytes(r.rss_after_bytes)} ({verdict})")
    if r.gpu_reserved_before_bytes is not None:
        parts.append(
            f"GPU reserved {human_bytes(r.gpu_reserved_before_bytes)} -> {human_bytes(r.gpu_reserved_after_bytes)}"
        )
    if r.collected is not None:
        parts.append(f"{r.collected} objects collected")
    text = ", ".join(parts)
    if r.note:
        text += f"\n{printable(r.note)}"
    compared = comparison_text(r)
    if compared:
        text += f"\n{compared}"
    return text
