"""Market cores (pure numpy): day-ahead auction, FCR capacity auctions, mFRR activation,
imbalance settlement, retail price composition and settlement ledger. See ``docs/markets.md``;
``simulators.market`` re-exports the public API."""
