"""The transformer stage: the network (int8), its training loop, the stage itself and the opt-in exit gate."""
