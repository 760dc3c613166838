"""Who a customer is: proofs that link identities, their tokens, merging and privacy."""
