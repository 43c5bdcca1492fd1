"""The parser: whatever a person types gives tokens or a clear UserError, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.errors import UserError
from commands.parsing import MAX_TEXT_LENGTH, ArgumentParser, key_value, normalize, tokenize


def test_smart_punctuation_from_slack_is_undone() -> None:
    assert tokenize("job submit train —compute gpu –set inputs.lr=0.1 --name “my run”") == [
        "job",
        "submit",
        "train",
        "--compute",
        "gpu",
        "--set",
        "inputs.lr=0.1",
        "--name",
        "my run",
    ]
    assert tokenize("job submit train --name ‘my run’") == ["job", "submit", "train", "--name", "my run"]
    assert normalize("a\u00a0b") == "a b"


def test_links_and_entities_slack_escaped_reach_the_handler_as_typed() -> None:
    # What Slack sends for `job submit train --set data=https://x.io/a?b=1&c=2 --set owner=ann@x.io …`
    sent = (
        "job submit train --set data=<https://x.io/a?b=1&amp;c=2> --set owner=<mailto:ann@x.io|ann@x.io> "
        "--set page=<http://wiki.x.io/p|wiki.x.io/p> --set op=&lt;=&amp;&gt; --set raw=&amp;lt;"
    )
    assert tokenize(sent)[3:] == [
        "--set",
        "data=https://x.io/a?b=1&c=2",
        "--set",
        "owner=ann@x.io",
        "--set",
        "page=wiki.x.io/p",  # Slack made a link of what was typed
        "--set",
        "op=<=&>",
        "--set",
        "raw=&lt;",  # the person typed the entity itself
    ]
    # Mentions keep Slack's form: the commands that take a person or a channel read it.
    assert tokenize("audit --user <@U123|bob> <#C1|ml>") == ["audit", "--user", "<@U123|bob>", "<#C1|ml>"]


def test_unbalanced_quote_says_how_to_fix_it() -> None:
    with pytest.raises(UserError, match="Close every quote"):
        tokenize('job submit train --name "oops')


def test_text_over_the_limit_is_refused_with_its_length() -> None:
    with pytest.raises(UserError, match="4,000 characters"):
        tokenize("x" * 4000)


def test_control_characters_are_named() -> None:
    with pytest.raises(UserError, match="U\\+0007"):
        tokenize("job list\x07")


def test_unicode_words_survive() -> None:
    assert tokenize("help 模型 🚀") == ["help", "模型", "🚀"]


def test_key_value_and_equals_forms_parse_alike() -> None:
    parser = ArgumentParser("/aml job submit")
    parser.add_argument("template")
    parser.add_argument("--compute")
    parser.add_argument("--set", action="append", type=key_value, default=[])
    spaced = parser.parse(tokenize("train --compute gpu --set lr=0.1 --set epochs=3"))
    joined = parser.parse(tokenize("train --compute=gpu --set=lr=0.1 --set epochs=3"))
    assert spaced == joined
    assert spaced.set == [("lr", "0.1"), ("epochs", "3")]


def test_parser_raises_instead_of_exiting() -> None:
    parser = ArgumentParser("/aml job submit")
    parser.add_argument("--set", action="append", type=key_value)
    with pytest.raises(UserError, match="expected key=value"):
        parser.parse(["--set", "novalue"])
    with pytest.raises(UserError, match="don't know these words"):
        parser.parse(["--bogus"])


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=3000))
def test_any_text_tokenizes_or_fails_with_a_user_error(text: str) -> None:
    try:
        words = tokenize(text)
    except UserError as err:
        assert err.message
    else:
        assert len(text) <= MAX_TEXT_LENGTH
        assert all(isinstance(word, str) for word in words)


_PLAIN = st.characters(blacklist_categories=["Cc", "Cs", "Zs", "Zl", "Zp"], blacklist_characters="\"'\\—–−“”„«»‘’‚")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=_PLAIN, min_size=1, max_size=30), max_size=8))
def test_plain_words_round_trip(words: list[str]) -> None:
    assert tokenize(" ".join(words)) == words
