"""Coconet: the convolutional four-voice harmonizer sampled by Gibbs, its training and evaluation."""
