"""The container tests' fixtures, ``podman_image`` and ``podman_retag``, live in
``tests/podman_fixture.py`` (loaded by ``tests/conftest.py``), so that ``tests/test_readme.py``
can run the README's container example with the same image; the image's helpers are in
``tests/podman_helpers.py``."""
