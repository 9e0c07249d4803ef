"""Zero-shot named-entity retrieval in JAX/Flax."""
