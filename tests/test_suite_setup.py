"""The test command's own set-up: pytest-xdist groups keep the expensive shared fixtures (the
exported models, the tiny study run) on one worker, so each is built once per suite."""

import pytest


@pytest.mark.xdist_group("suite_setup")
def test_xdist_groups_reach_the_scheduler(request):
    """Under `--dist loadgroup` a grouped test's id carries its group. pytest-xdist 3.8 cannot
    add it under pytest 9 (pytest>=8,<9 is pinned for that), and the grouped fixtures were then
    built once per worker."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@suite_setup")
