"""Finding subject words in tokenized prompts: sub-tokens, plurals, case, punctuation, absent words."""
import pytest

from svdstory.errors import SvdStoryError
from svdstory.story import Story, head_noun
from svdstory.subject_words import release_positions, story_token_positions, token_positions
from svdstory.tiny import tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def pieces(tok, prompt, positions):
    ids = tok(prompt).input_ids
    return [tok.convert_ids_to_tokens(ids[p]) for p in positions]


def test_multi_token_word_gets_every_sub_token(tok):
    assert len(tok.tokenize("dolphin")) > 1  # the tiny vocabulary splits it on purpose
    prompt = "a dolphin in snow"
    pos = token_positions(tok, prompt, "dolphin")
    assert pos == list(range(pos[0], pos[0] + len(tok.tokenize("dolphin"))))
    assert "".join(pieces(tok, prompt, pos)).replace("</w>", "") == "dolphin"
    assert pos[0] == 2  # after <|startoftext|> and "a"


@pytest.mark.parametrize("prompt,word,expected", [
    ("two cats in snow", "cat", "cats"),
    ("a cat in snow", "cats", "cat"),
    ("two buses in a city", "bus", "buses"),
    ("a red bus at night", "buses", "bus"),
    ("A Cat, on a beach", "Cat,", "cat"),
    ("a big teddy bear in a room", "teddy bear", "teddybear"),
    ("two teddy bears in a room", "Teddy Bear", "teddybears"),
])
def test_plural_case_punctuation_and_multi_word(tok, prompt, word, expected):
    pos = token_positions(tok, prompt, word)
    assert "".join(pieces(tok, prompt, pos)).replace("</w>", "") == expected


def test_positions_account_for_the_start_token(tok):
    ids = tok("a red bus").input_ids
    pos = token_positions(tok, "a red bus", "bus")
    assert ids[0] == tok.bos_token_id and pos == [3]


def test_absent_token_names_the_token_and_the_prompt(tok):
    with pytest.raises(SvdStoryError) as err:
        token_positions(tok, "a cat on a beach", "dog")
    message = str(err.value)
    assert "'dog'" in message and "'a cat on a beach'" in message and "\n" not in message


def test_story_positions_are_per_subject_then_per_image(tok):
    story = Story("a cat and a dog", ("on a beach", "in snow"), tokens=("cat", "dog"))
    pos = story_token_positions(tok, story.prompts, story.tokens)
    assert len(pos) == 2 and all(len(per) == 2 for per in pos)
    cat, dog = pos
    assert all(max(c) < min(d) for c, d in zip(cat, dog))  # "cat" comes before "dog" in both prompts


@pytest.mark.parametrize("subject,noun", [
    ("a red bus", "bus"), ("a red bus with stripes", "bus"), ("The old Fox.", "Fox"),
    ("a cup of coffee", "cup"), ("a man in a red hat", "man"), ("an elderly man wearing a hat", "man"),
    ("cats", "cats"),
])
def test_head_noun(subject, noun):
    assert head_noun(subject) == noun


@pytest.mark.parametrize("subject", ["a the", "of an"])
def test_head_noun_without_a_noun_fails_with_the_subject(subject):
    with pytest.raises(SvdStoryError, match=subject):
        head_noun(subject)


def test_story_defaults_its_token_to_the_head_noun():
    assert Story("a small red bus", ("in a city",)).tokens == ("bus",)


def test_release_rule_takes_the_first_sub_token_of_the_last_occurrence(tok):
    prompt = "a dolphin and a dolphin in snow"
    first, last = token_positions(tok, prompt, "dolphin"), token_positions(tok, prompt, "dolphin", "release")
    assert len(first) > 1 and len(last) == 1
    assert last[0] > first[-1]  # the second "dolphin"
    assert pieces(tok, prompt, last) == pieces(tok, prompt, first[:1])
    with pytest.raises(SvdStoryError, match="token rule"):
        token_positions(tok, prompt, "dolphin", "middle")


@pytest.mark.parametrize("prompt,word,expected", [
    ("a cat next to a cow", "cat", ["c", 11]),  # "cat" is "c" + "at": the last "c" is that of "cow"
    ("a red robot on a road", "robot", ["ro", 8]),  # "robot" is "ro" + "bo" + "t": the "ro" of "road"
    ("two cats in snow", "cat", []),  # "cats" is one token, and "c" appears nowhere: the release's -1
])
def test_release_rule_takes_the_last_position_of_the_first_sub_tokens_id(tok, prompt, word, expected):
    """The ConsiStory release's rule, quirks included: the id of the word's first sub-token, wherever it last
    appears in the prompt, even inside another word; absent: no position."""
    pos = release_positions(tok, prompt, word)
    assert pos == expected[1:] and pieces(tok, prompt, pos) == expected[:1]
    assert token_positions(tok, prompt, word, "release") == pos


def test_release_rule_lets_a_prompt_miss_a_subject_but_not_all_of_them(tok):
    prompts = ["a cat and a dog on a beach", "two cats and a dog in snow"]
    cat, dog = story_token_positions(tok, prompts, ("cat", "dog"), "release")
    assert cat[1] == [] and dog[1] != []  # the second image's mask comes from "dog" alone, as in the release
    with pytest.raises(SvdStoryError, match="two cats in snow"):
        story_token_positions(tok, ["a cat on a beach", "two cats in snow"], ("cat",), "release")
