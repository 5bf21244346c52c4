"""Test settings: one torch thread, so that timings and parallel runs stay sane on small CPUs."""
import torch

torch.set_num_threads(1)
