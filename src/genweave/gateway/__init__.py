"""The HTTP front door: an OpenAI-compatible API, health and metrics, and a console.

Everything here is generic, for any app that serves HTTP from a component:

- ``api``: routes with validated bodies, keys, limits and an OpenAPI document; SSE.
- ``auth``: API keys and their rate limits.  ``errors``: OpenAI's error shape.
- ``ops``: health, readiness, Prometheus metrics and the live status view.
- ``console``: the web page showing the topology, replicas and methods.
- ``metrics``: the Prometheus exposition.  ``openai``: OpenAI's request and
  response shapes.  ``server``: uvicorn inside a genweave process.

Which component serves which endpoint is the app's decision: the reference
app's gateway (``genweave.app.gateway``) is one example.
"""
