"""Hindsight service layer: storage, model, indexes, tagging, search, review and the doors."""
