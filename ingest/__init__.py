"""Turning raw sources (files, directories, URLs, link lists) into parsed documents."""
