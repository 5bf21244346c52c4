import pytest
import torch


@pytest.fixture(params=[1, 2])
def threads(request):
    """torch's thread count, 1 and 2: at 2 the C loops run the two directions of a layer on two
    threads and the C attention scores share the sentences between them (OpenMP builds)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)
