"""Insights: how the desk is doing (calls, containment, tickets, questions, ratings) for staff."""
