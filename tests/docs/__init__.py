"""Tests of ticket documents: frontmatter, the native and docmgr providers, seeding."""
