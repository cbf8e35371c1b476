"""A trial's facts: the latest report wins, except the node, whose moves are kept in order."""

import pytest

from sweeper.rules.point import merge_facts


@pytest.mark.parametrize(
    "reports, expected",
    [
        ([{"node": "head", "resumed_from": 0}], {"node": "head", "resumed_from": 0}),
        # the same node again is not a move
        ([{"node": "head"}, {"node": "head"}], {"node": "head"}),
        # a lost worker node, the retry on the head from the step-4 checkpoint
        ([{"node": "worker", "resumed_from": 0}, {"node": "head", "resumed_from": 4}], {"node": "worker > head", "resumed_from": 4}),
        # back to a node it left is a further move
        ([{"node": "a"}, {"node": "b"}, {"node": "a"}], {"node": "a > b > a"}),
        ([{"max_steps": 8}, {"max_steps": 9}], {"max_steps": 9}),
    ],
)
def test_merge_facts(reports, expected):
    recorded = {}
    for stated in reports:
        merge_facts(recorded, stated)
    assert recorded == expected
