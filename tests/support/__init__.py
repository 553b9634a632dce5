"""Test support shared by the test packages and ``bench/``: fakes' patches and launchers."""
