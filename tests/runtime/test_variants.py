"""Variant choice: sticky per user, weighted, and shadow copies sampled."""

from __future__ import annotations

import collections

from genweave.runtime.membership import Split
from genweave.runtime.variants import pick, shadow_variants


def test_variants_are_picked_by_weight_and_stick_to_a_user() -> None:
    splits = [Split("primary", 70.0, ["unix:/p"]), Split("b", 30.0, ["unix:/b"])]
    picks = collections.Counter(pick(splits, "g", {"user": f"u{i}"}) for i in range(4000))
    assert abs(picks["b"] / 4000 - 0.30) < 0.03
    assert all(pick(splits, "g", {"user": "ada"}) == pick(splits, "g", {"user": "ada"})
               for _ in range(20))
    assert pick(splits, "g", {"api_key": "team-x"}) == pick(splits, "g", {"api_key": "team-x"})


def test_a_variant_without_ready_replicas_sends_its_share_to_the_primary() -> None:
    splits = [Split("primary", 0.0, ["unix:/p"]), Split("b", 100.0, [])]
    assert pick(splits, "g", {"user": "ada"}) == "primary"


def test_shadow_copies_follow_their_sample() -> None:
    splits = [Split("primary", 100.0, ["unix:/p"]),
              Split("shadow", 25.0, ["unix:/s"], shadow=True),
              Split("idle", 100.0, [], shadow=True)]
    copies = collections.Counter(v for _ in range(4000) for v in shadow_variants(splits))
    assert abs(copies["shadow"] / 4000 - 0.25) < 0.03
    assert copies["idle"] == 0  # no ready replica: no copy
