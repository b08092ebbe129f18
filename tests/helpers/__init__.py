"""Reusable test helpers: real git repositories, private tmux servers, and fakes built from
recorded contracts. Import from any test package: ``from tests.helpers.git import RepoFactory``.
"""
