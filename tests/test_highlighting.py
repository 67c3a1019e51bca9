"""Source inside explanations and diffs: coloured on a terminal, the same characters everywhere."""
from io import StringIO

from rich.console import Console

from engine.highlighting import code_text

LINE = 'when product in mobile_tariffs: "O2 Business S" in mobile_tariffs → true  (x.rules:55)'


def test_plain_text_is_unchanged():
    assert code_text(LINE).plain == LINE
    assert code_text("x ").plain == "x "


def test_terminal_output_is_coloured_and_files_are_not():
    tty, pipe = StringIO(), StringIO()
    Console(file=tty, force_terminal=True, width=200).print(code_text(LINE))
    Console(file=pipe, force_terminal=False, width=200).print(code_text(LINE))
    assert "\x1b[" in tty.getvalue()
    assert pipe.getvalue() == LINE + "\n"


def test_unknown_characters_are_not_marked_as_errors():
    styles = {str(span.style) for span in code_text("a → b × c").spans}
    assert not any("red" in s and "on" in s for s in styles)
