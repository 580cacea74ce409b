"""Test order: the longest tests first.

pytest-xdist hands tests to its workers in collection order. A long test collected last (the
demo study, the tiny-study group) then runs alone at the end while the other worker idles, so
they are moved to the front; the order of everything else is unchanged.
"""

# Files whose slow tests take minutes each (measured with `--durations`; BUILD_NOTES.md).
LONGEST = ("tests/test_demo.py", "tests/test_study.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return 0 if path in LONGEST and item.get_closest_marker("slow") else 1

    items.sort(key=rank)  # stable: the rest keep their order
