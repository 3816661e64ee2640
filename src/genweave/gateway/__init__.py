"""The HTTP front door: an OpenAI-compatible API, health and metrics, and a console.

The pieces here are generic (errors, keys and rate limits, routing with
validation and an OpenAPI document, SSE, the server's lifecycle); which
component serves which endpoint is decided by the app, see
``genweave.app.gateway``.
"""
