"""The statistics the compare pages show: `fineweb.lib.stats` (pair records with Wilson intervals,
Bradley-Terry ratings fitted with choix and bootstrap intervals), named here for compare's use."""

from __future__ import annotations

from fineweb.lib.stats import PairRecord, Rating, Vote, bradley_terry, pair_records

__all__ = ["PairRecord", "Rating", "Vote", "bradley_terry", "pair_records"]
