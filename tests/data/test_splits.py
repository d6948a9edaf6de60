import collections

import pytest

from kerattn.data import CorpusError, SplitRule, bucket_of


def test_bucket_rule_is_fixed():
    # sha1("hello") = aaf4c61d dcc5e8a2 ...; 0xaaf4c61ddcc5e8a2 % 1000 == 82. Changing the rule
    # would silently reshuffle every corpus, so it is pinned here.
    assert bucket_of("hello") == 82
    assert bucket_of("text/shared/optionen/macrosecurity.html") == 268


def test_split_sizes_follow_the_fractions():
    rule = SplitRule(test_fraction=0.05, valid_fraction=0.1)
    counts = collections.Counter(rule.split_of(f"key {i}") for i in range(20000))
    assert abs(counts["test"] / 20000 - 0.05) < 0.01
    assert abs(counts["valid"] / 20000 - 0.10) < 0.01
    assert rule.describe()["test"] == [0, 50]
    assert rule.describe()["valid"] == [50, 150]
    assert rule.describe()["train"] == [150, 1000]


def test_split_depends_on_the_key_only():
    rule = SplitRule()
    assert rule.split_of("hello") == "valid"  # bucket 82 is in [50, 100)
    assert SplitRule(test_fraction=0.1).split_of("hello") == "test"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"test_fraction": 0.0505}, r"test_fraction=0.0505 is invalid; use a multiple of 0.001"),
        ({"valid_fraction": -0.1}, r"valid_fraction=-0.1 is invalid"),
        ({"test_fraction": 0.5, "valid_fraction": 0.5}, r"leaves nothing for training"),
    ],
)
def test_bad_fractions_are_clear_errors(kwargs, message):
    with pytest.raises(CorpusError, match=message):
        SplitRule(**kwargs)
