"""Thingbid device_agent package."""
