"""The pure election and commit rules of protocol version 1."""

from __future__ import annotations

import random

from bson.timestamp import Timestamp

from holddb.repl import OpTime, VoteRequest, commit_point, decide_vote, election_timeout
from holddb.repl._rules import count_acknowledged, takeover_delay


def _request(**changes) -> VoteRequest:
    fields = dict(set_name="rs", term=5, candidate_id=1, config_version=2,
                  last_applied=OpTime(4, 100), dry_run=False)
    fields.update(changes)
    return VoteRequest(**fields)


def _decide(request: VoteRequest, **changes):
    state = dict(set_name="rs", term=4, voted_term=4, config_version=2,
                 last_applied=OpTime(4, 100), candidate_is_voter=True)
    state.update(changes)
    return decide_vote(request, **state)


def test_vote_granted_to_an_up_to_date_candidate_of_a_newer_term():
    assert _decide(_request()) == (True, "")


def test_one_vote_per_term():
    granted, reason = _decide(_request(), voted_term=5)
    assert not granted and "already voted" in reason
    # a dry run does not spend the vote
    assert _decide(_request(dry_run=True), voted_term=5)[0]


def test_stale_term_config_or_set_name_is_refused():
    assert "term" in _decide(_request(term=3))[1]
    assert "config version" in _decide(_request(config_version=1))[1]
    assert "set name" in _decide(_request(set_name="other"))[1]
    assert "not a voting member" in _decide(_request(), candidate_is_voter=False)[1]


def test_candidate_must_be_at_least_as_up_to_date():
    granted, reason = _decide(_request(last_applied=OpTime(4, 99)))
    assert not granted and "staler" in reason
    # optimes compare by term first: a newer term wins over a later timestamp
    assert _decide(_request(last_applied=OpTime(5, 1)), last_applied=OpTime(4, 10**12))[0]
    assert not _decide(_request(last_applied=OpTime(3, 10**12)))[0]


def test_dry_run_refused_while_a_primary_is_seen_except_takeover():
    assert not _decide(_request(dry_run=True), sees_primary=True)[0]
    assert _decide(_request(dry_run=True, takeover=True), sees_primary=True)[0]
    assert _decide(_request(), sees_primary=True)[0]  # the real vote follows the rules above


def test_at_most_one_winner_per_term():
    """Three voters; two candidates in the same term can never both get a majority."""
    for seed in range(200):
        rng = random.Random(seed)
        voted = {v: 4 for v in range(3)}
        winners = []
        order = [(c, v) for c in (0, 1) for v in range(3)]
        rng.shuffle(order)
        votes = {0: 0, 1: 0}
        for candidate, voter in order:
            granted, _ = decide_vote(_request(candidate_id=candidate), set_name="rs", term=4,
                                     voted_term=voted[voter], config_version=2,
                                     last_applied=OpTime(4, 100), candidate_is_voter=True)
            if granted:
                voted[voter] = 5
                votes[candidate] += 1
        winners = [c for c, n in votes.items() if n >= 2]
        assert len(winners) <= 1


def test_election_timeout_is_randomised_within_fifteen_percent():
    rng = random.Random(1)
    values = [election_timeout(10000, rng) for _ in range(200)]
    assert all(10.0 <= v <= 11.5 for v in values)
    assert len(set(values)) > 100


def test_priority_takeover_waits_longer_for_lower_priorities():
    assert takeover_delay(3, [1, 2, 3], 2000) == 2.0
    assert takeover_delay(2, [1, 2, 3], 2000) == 4.0


def test_commit_point_needs_a_majority_and_the_current_term():
    voters = [0, 1, 2]
    durable = {0: OpTime(5, 30), 1: OpTime(5, 20), 2: OpTime(4, 10)}
    assert commit_point(durable, voters, 2, 5, OpTime(4, 0)) == OpTime(5, 20)
    # an entry of an older term is not committed by counting replicas
    durable = {0: OpTime(5, 30), 1: OpTime(4, 25), 2: OpTime(4, 10)}
    assert commit_point(durable, voters, 2, 5, OpTime(4, 0)) == OpTime(4, 0)
    # never moves backwards
    durable = {0: OpTime(5, 30), 1: OpTime(5, 20), 2: OpTime(5, 10)}
    assert commit_point(durable, voters, 2, 5, OpTime(5, 25)) == OpTime(5, 25)
    # missing members count as having nothing
    assert commit_point({0: OpTime(5, 30)}, voters, 2, 5, OpTime(4, 0)) == OpTime(4, 0)


def test_w_n_counts_members_with_the_write():
    durable = {0: OpTime(5, 30), 1: OpTime(5, 20), 2: OpTime(5, 10)}
    assert count_acknowledged(durable, OpTime(5, 20)) == 2


def test_optime_from_documents():
    assert OpTime.of({"ts": Timestamp(10, 3), "t": 2}) == OpTime(2, 10 << 32 | 3)
    assert OpTime.of(None) < OpTime.of({"ts": Timestamp(1, 1), "t": 0})
    assert OpTime(2, 10 << 32 | 3).document()["ts"] == Timestamp(10, 3)


def test_a_deposed_primary_judges_candidates_by_its_newest_entry():
    """A primary that sees a higher term steps down first, then votes: it must
    compare the candidate with its newest entry, not with an older position."""
    newest = OpTime(5, 200)
    candidate_behind = _request(term=6, last_applied=OpTime(5, 150))
    assert not _decide(candidate_behind, term=6, voted_term=5, last_applied=newest)[0]
