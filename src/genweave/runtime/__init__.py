"""A group's runtime: hosting components and resolving their Refs."""
